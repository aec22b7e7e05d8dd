//! Order numbers (the seed system's scheme): 2 digits pay channel + 1 digit transaction kind +
//! 2 digits product type + Beijing timestamp `yyMMddHHmmss` + 2 digits node + 2 digits slot +
//! 2 digits lane + 6 digits sequence = 29 decimal digits, within WeChat's 32-character
//! `out_trade_no` and `out_refund_no` charset. Numbers parse back into their parts, so support
//! staff and the refund path can read the channel and the time of issue from the number.
//!
//! Uniqueness without a lock on the hot path: each thread draws numbers from its own lane (a
//! thread-local sequence), so threads never touch a shared counter (perf-anchors row 7e).
//!
//! Uniqueness across restarts with true timestamps: each start takes one of 100 slots, the one
//! reserved longest ago, and its numbers carry the slot's digits. A slot's floor (the last
//! second any number under it may carry) is reserved durably a minute ahead; a start continues
//! above its slot's floor, which is in the past unless 100 starts happened within the last
//! minute or two (or the clock stepped back further than that): so numbers carry the real time
//! of issue, and never repeat one issued under the same slot before. Within one run a lane's
//! timestamp never goes back (a clock stepping back keeps the lane's last second).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// The length of every order number.
pub const ORDER_NUMBER_LEN: usize = 29;

/// The highest sequence in one lane and second.
const MAX_SEQUENCE: u64 = 999_999;

/// How far ahead a slot's floor is reserved in one durable write.
pub const RESERVATION_S: i64 = 60;

/// How many slots starts rotate through.
pub const SLOTS: usize = 100;

/// The pay channel: entry point and trade type (2 digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Channel(pub u8);

impl Channel {
    /// Not tied to a channel (business orders created before any payment).
    pub const UNSPECIFIED: Channel = Channel(0);
    /// 公众号 H5, JSAPI.
    pub const OFFICIAL_ACCOUNT: Channel = Channel(1);
    /// 小程序 (through the web-view bridge), JSAPI.
    pub const MINI_PROGRAM: Channel = Channel(2);
    /// APP.
    pub const APP: Channel = Channel(3);
    /// Phone browser H5, MWEB.
    pub const H5: Channel = Channel(4);
    /// QR code, NATIVE.
    pub const NATIVE: Channel = Channel(5);
    /// The first channel reserved for 医保 (medical insurance) pay; 50 to 59 are reserved.
    pub const MEDICAL_INSURANCE_FIRST: Channel = Channel(50);

    /// True for the range reserved for 医保 pay.
    pub fn is_medical_insurance(self) -> bool {
        (50..=59).contains(&self.0)
    }
}

/// The transaction kind (1 digit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// A business order.
    Order,
    /// A payment attempt (`out_trade_no`).
    Payment,
    /// A refund (`out_refund_no`).
    Refund,
    /// A 医保 settlement (reserved).
    MedicalSettlement,
}

impl Kind {
    /// The digit.
    pub fn digit(self) -> u8 {
        match self {
            Kind::Order => 0,
            Kind::Payment => 1,
            Kind::Refund => 2,
            Kind::MedicalSettlement => 3,
        }
    }

    /// From the digit.
    pub fn from_digit(digit: u8) -> Option<Kind> {
        match digit {
            0 => Some(Kind::Order),
            1 => Some(Kind::Payment),
            2 => Some(Kind::Refund),
            3 => Some(Kind::MedicalSettlement),
            _ => None,
        }
    }
}

/// The product type (2 digits, the merchant's own catalogue: registration, medicine, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProductType(pub u8);

/// A validated order number: 29 ASCII digits, kept inline (issuing or copying one allocates
/// nothing); stored and serialised as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderNumber([u8; ORDER_NUMBER_LEN]);

/// Why a text is not an order number, or a number could not be issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderNumberError {
    /// Not 29 digits.
    #[error("an order number is {ORDER_NUMBER_LEN} digits: {text:?}")]
    Format {
        /// The rejected text.
        text: String,
    },
    /// A part is out of range.
    #[error("order number part out of range: {part}")]
    Part {
        /// Which part.
        part: &'static str,
    },
    /// More than 100 threads draw numbers from one generator at the same time.
    #[error("more than 100 threads draw order numbers from one generator at the same time")]
    TooManyLanes,
    /// The timestamp floor could not be reserved durably.
    #[error("cannot reserve the order number timestamp floor: {0}")]
    Reservation(String),
}

/// The parts of an order number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderNumberParts {
    /// The pay channel.
    pub channel: Channel,
    /// The transaction kind.
    pub kind: Kind,
    /// The product type.
    pub product_type: ProductType,
    /// `yyMMddHHmmss`, Beijing time.
    pub timestamp: String,
    /// The node (engine instance).
    pub node: u8,
    /// The slot of the run that issued it.
    pub slot: u8,
    /// The lane (thread) within the node.
    pub lane: u8,
    /// The sequence within the lane and second.
    pub sequence: u64,
}

fn digits_value(text: &str) -> u64 {
    text.bytes()
        .fold(0, |value, byte| value * 10 + u64::from(byte - b'0'))
}

impl OrderNumber {
    /// Validates a text as an order number.
    pub fn parse(text: impl Into<String>) -> Result<OrderNumber, OrderNumberError> {
        let text = text.into();
        if text.len() != ORDER_NUMBER_LEN || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(OrderNumberError::Format { text });
        }
        if Kind::from_digit(text.as_bytes().get(2).map_or(9, |byte| byte - b'0')).is_none() {
            return Err(OrderNumberError::Part { part: "kind" });
        }
        let mut digits = [b'0'; ORDER_NUMBER_LEN];
        digits.copy_from_slice(text.as_bytes());
        Ok(OrderNumber(digits))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Splits the number into its parts.
    ///
    /// ```
    /// use cashier_engine::order_number::{Channel, Kind, OrderNumber};
    /// let number = OrderNumber::parse("02107251127100000030501000042").unwrap();
    /// let parts = number.parts();
    /// assert_eq!(parts.channel, Channel::MINI_PROGRAM);
    /// assert_eq!(parts.kind, Kind::Payment);
    /// assert_eq!(parts.timestamp, "251127100000");
    /// assert_eq!((parts.node, parts.slot, parts.lane), (3, 5, 1));
    /// assert_eq!(parts.sequence, 42);
    /// ```
    pub fn parts(&self) -> OrderNumberParts {
        let part = |range: std::ops::Range<usize>| self.as_str().get(range).unwrap_or("0");
        OrderNumberParts {
            channel: Channel(digits_value(part(0..2)) as u8),
            kind: Kind::from_digit(digits_value(part(2..3)) as u8).unwrap_or(Kind::Order),
            product_type: ProductType(digits_value(part(3..5)) as u8),
            timestamp: part(5..17).to_owned(),
            node: digits_value(part(17..19)) as u8,
            slot: digits_value(part(19..21)) as u8,
            lane: digits_value(part(21..23)) as u8,
            sequence: digits_value(part(23..29)),
        }
    }

    /// The pay channel.
    pub fn channel(&self) -> Channel {
        self.parts().channel
    }
}

impl fmt::Display for OrderNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Debug for OrderNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "OrderNumber({})", self.as_str())
    }
}

impl TryFrom<String> for OrderNumber {
    type Error = OrderNumberError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        OrderNumber::parse(text)
    }
}

impl From<OrderNumber> for String {
    fn from(number: OrderNumber) -> String {
        number.as_str().to_owned()
    }
}

/// Persists a slot's floor: called with the slot and a Unix second before any number with a
/// later timestamp is issued under the slot; must be durable when it returns.
pub type Reserve = dyn Fn(u8, i64) -> Result<(), String> + Send + Sync;

/// The slot a start takes: the one whose floor is lowest (reserved longest ago), and the floor
/// its numbers must stay above.
pub fn choose_slot(floors: &[i64]) -> (u8, i64) {
    let mut best = (0u8, floors.first().copied().unwrap_or(0));
    for (slot, floor) in floors.iter().enumerate().take(SLOTS) {
        if *floor < best.1 {
            best = (slot as u8, *floor);
        }
    }
    best
}

/// Issues order numbers. Share it; every thread gets its own lane (at most 100 threads at
/// once); a thread's lane returns to the generator when the thread ends.
pub struct OrderNumberGenerator {
    id: u64,
    node: u8,
    slot: u8,
    clock: Arc<dyn Clock>,
    next_lane: AtomicU8,
    free_lanes: Arc<Mutex<Vec<Lane>>>,
    floor_s: i64,
    reserved_until_s: AtomicI64,
    reserve: Box<Reserve>,
}

/// A lane's state. A lane handed back keeps its last second and sequence, so whoever takes it
/// next continues after them and never repeats a number.
#[derive(Clone)]
struct Lane {
    lane: u8,
    second: i64,
    sequence: u64,
    timestamp: [u8; 12],
}

/// A thread's lane of one generator; handed back to the generator when the thread ends.
struct LaneSlot {
    generator_id: u64,
    lane: Lane,
    free_lanes: Weak<Mutex<Vec<Lane>>>,
}

impl Drop for LaneSlot {
    fn drop(&mut self) {
        if let Some(free_lanes) = self.free_lanes.upgrade() {
            if let Ok(mut free_lanes) = free_lanes.lock() {
                free_lanes.push(self.lane.clone());
            }
        }
    }
}

thread_local! {
    static LANES: RefCell<Vec<LaneSlot>> = const { RefCell::new(Vec::new()) };
}

static GENERATOR_IDS: AtomicU64 = AtomicU64::new(1);

fn beijing_timestamp(second: i64) -> [u8; 12] {
    let text = cashier_adapters::wechat::time::format_compact(second);
    let mut digits = [b'0'; 12];
    if let Some(tail) = text.as_bytes().get(2..14) {
        digits.copy_from_slice(tail);
    }
    digits
}

fn write_two(out: &mut [u8], value: u8) {
    if let [tens, ones] = out {
        *tens = b'0' + value / 10 % 10;
        *ones = b'0' + value % 10;
    }
}

impl OrderNumberGenerator {
    /// A generator for `node` (0–99) issuing under `slot`, whose durable floor is `floor_s`
    /// (numbers stay above it); `reserve` persists new reservations of the slot.
    pub fn new(
        node: u8,
        clock: Arc<dyn Clock>,
        slot: u8,
        floor_s: i64,
        reserve: Box<Reserve>,
    ) -> OrderNumberGenerator {
        OrderNumberGenerator {
            id: GENERATOR_IDS.fetch_add(1, Ordering::Relaxed),
            node: node % 100,
            slot: slot % 100,
            clock,
            next_lane: AtomicU8::new(0),
            free_lanes: Arc::new(Mutex::new(Vec::new())),
            floor_s: floor_s.saturating_add(1),
            reserved_until_s: AtomicI64::new(floor_s),
            reserve,
        }
    }

    /// The generator of one start: takes the slot reserved longest ago among `floors` (the
    /// store's slot floors) and reserves it again at once, so the next start takes another.
    pub fn start(
        node: u8,
        clock: Arc<dyn Clock>,
        floors: &[i64],
        reserve: Box<Reserve>,
    ) -> Result<OrderNumberGenerator, OrderNumberError> {
        let (slot, floor_s) = choose_slot(floors);
        let now_s = clock.now_ms().div_euclid(1000);
        reserve(slot, floor_s.max(now_s) + RESERVATION_S).map_err(OrderNumberError::Reservation)?;
        Ok(OrderNumberGenerator::new(
            node, clock, slot, floor_s, reserve,
        ))
    }

    /// A generator that reserves nothing (tests, benches).
    pub fn in_memory(node: u8, clock: Arc<dyn Clock>) -> OrderNumberGenerator {
        OrderNumberGenerator::new(node, clock, 0, 0, Box::new(|_, _| Ok(())))
    }

    /// The slot this generator issues under.
    pub fn slot(&self) -> u8 {
        self.slot
    }

    fn ensure_reserved(&self, second: i64) -> Result<(), OrderNumberError> {
        if second <= self.reserved_until_s.load(Ordering::Acquire) {
            return Ok(());
        }
        let until = second + RESERVATION_S;
        (self.reserve)(self.slot, until).map_err(OrderNumberError::Reservation)?;
        self.reserved_until_s.fetch_max(until, Ordering::AcqRel);
        Ok(())
    }

    /// Slow path, once per thread: a lane a finished thread handed back, or a new one.
    fn take_lane(&self) -> Result<LaneSlot, OrderNumberError> {
        let reused = self
            .free_lanes
            .lock()
            .ok()
            .and_then(|mut free_lanes| free_lanes.pop());
        let lane = match reused {
            Some(lane) => lane,
            None => {
                let lane = self.next_lane.fetch_add(1, Ordering::Relaxed);
                if lane > 99 {
                    self.next_lane.store(100, Ordering::Relaxed);
                    return Err(OrderNumberError::TooManyLanes);
                }
                Lane {
                    lane,
                    second: i64::MIN,
                    sequence: 0,
                    timestamp: [b'0'; 12],
                }
            }
        };
        Ok(LaneSlot {
            generator_id: self.id,
            lane,
            free_lanes: Arc::downgrade(&self.free_lanes),
        })
    }

    /// The next number for `channel`, `kind` and `product_type`.
    pub fn next(
        &self,
        channel: Channel,
        kind: Kind,
        product_type: ProductType,
    ) -> Result<OrderNumber, OrderNumberError> {
        if channel.0 > 99 || product_type.0 > 99 {
            return Err(OrderNumberError::Part {
                part: "channel or product type",
            });
        }
        let now_s = self.clock.now_ms().div_euclid(1000);
        LANES.with(|lanes| {
            let mut lanes = lanes.borrow_mut();
            let position = match lanes.iter().position(|slot| slot.generator_id == self.id) {
                Some(position) => position,
                None => {
                    lanes.push(self.take_lane()?);
                    lanes.len() - 1
                }
            };
            let Some(lane) = lanes.get_mut(position).map(|slot| &mut slot.lane) else {
                return Err(OrderNumberError::TooManyLanes);
            };
            // The lane's time never goes back: a clock stepping backwards keeps the last second
            // and the sequence runs on; a full second moves on to the next.
            let mut second = now_s.max(self.floor_s).max(lane.second);
            let mut sequence = if second == lane.second {
                lane.sequence + 1
            } else {
                0
            };
            if sequence > MAX_SEQUENCE {
                second += 1;
                sequence = 0;
            }
            if second != lane.second {
                self.ensure_reserved(second)?;
                lane.timestamp = beijing_timestamp(second);
                lane.second = second;
            }
            lane.sequence = sequence;
            let mut digits = [b'0'; ORDER_NUMBER_LEN];
            write_two(&mut digits[0..2], channel.0);
            digits[2] = b'0' + kind.digit();
            write_two(&mut digits[3..5], product_type.0);
            digits[5..17].copy_from_slice(&lane.timestamp);
            write_two(&mut digits[17..19], self.node);
            write_two(&mut digits[19..21], self.slot);
            write_two(&mut digits[21..23], lane.lane);
            let mut remaining = sequence;
            for digit in digits[23..29].iter_mut().rev() {
                *digit = b'0' + (remaining % 10) as u8;
                remaining /= 10;
            }
            Ok(OrderNumber(digits))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn numbers_are_29_digits_and_parse_back() {
        let clock = ManualClock::new(1_764_208_800_000);
        let generator = OrderNumberGenerator::in_memory(7, Arc::new(clock));
        let number = generator
            .next(Channel::NATIVE, Kind::Refund, ProductType(12))
            .unwrap_or(OrderNumber([b'0'; ORDER_NUMBER_LEN]));
        assert_eq!(number.as_str().len(), ORDER_NUMBER_LEN);
        let parts = number.parts();
        assert_eq!(parts.channel, Channel::NATIVE);
        assert_eq!(parts.kind, Kind::Refund);
        assert_eq!(parts.product_type, ProductType(12));
        assert_eq!(parts.timestamp, "251127100000");
        assert_eq!(parts.node, 7);
        assert!(cashier_adapters::OutTradeNo::new(number.as_str()).is_ok());
    }

    #[test]
    fn a_clock_stepping_back_never_repeats_a_number() {
        let clock = ManualClock::new(1_764_208_800_000);
        let generator = OrderNumberGenerator::in_memory(1, Arc::new(clock.clone()));
        let mut seen = std::collections::BTreeSet::new();
        for step in 0..50 {
            if step % 10 == 5 {
                clock.advance_ms(-5_000);
            } else {
                clock.advance_ms(300);
            }
            let number = generator.next(Channel::APP, Kind::Payment, ProductType(1));
            assert!(
                number
                    .as_ref()
                    .is_ok_and(|number| seen.insert(number.clone())),
                "{number:?}"
            );
        }
    }

    #[test]
    fn a_start_takes_the_slot_reserved_longest_ago() {
        let mut floors = vec![500; SLOTS];
        floors[7] = 100;
        floors[3] = 100;
        assert_eq!(choose_slot(&floors), (3, 100));
        assert_eq!(choose_slot(&[]), (0, 0));
    }
}
