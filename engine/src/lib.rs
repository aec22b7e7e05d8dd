//! The order engine (work in progress for issue #4).

pub mod clock;
pub mod machine;
pub mod model;
pub mod order_number;
