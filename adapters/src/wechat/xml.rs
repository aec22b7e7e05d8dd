//! The flat `<xml>` dialect of WeChat Pay v2 (wechatpay-v2.md §0, §1.3): one root, one level of
//! child elements without attributes, values as text and/or CDATA.
//!
//! The reader is written for exactly this dialect instead of wrapping a general XML parser, so
//! that everything outside it is a typed error by construction: DOCTYPE and entity declarations
//! (the XXE surface WxJava has to switch off), nested elements, attributes, duplicate elements,
//! undefined entities, oversized bodies. Line ends are normalised (`\r\n` → `\n`) as every XML
//! parser does, so values read here are what WeChat's own parser sees and signs.

use crate::wechat::fields::Fields;

/// The default limit on a body's size. The largest legitimate v2 messages (a refund query with
/// many refunds and coupons, a 6000-byte `detail`) stay well below it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// The default limit on the number of fields in one message.
pub const DEFAULT_MAX_FIELDS: usize = 2048;

/// Limits applied while reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XmlLimits {
    /// Bodies longer than this are rejected before any parsing.
    pub max_body_bytes: usize,
    /// Messages with more fields than this are rejected.
    pub max_fields: usize,
}

impl Default for XmlLimits {
    fn default() -> XmlLimits {
        XmlLimits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_fields: DEFAULT_MAX_FIELDS,
        }
    }
}

/// Why a body is not a valid v2 XML message, or a value cannot be written as one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The body is larger than the limit.
    #[error("body of {actual_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// The limit.
        limit_bytes: usize,
        /// The body's size.
        actual_bytes: usize,
    },
    /// The body is empty or whitespace only.
    #[error("empty body")]
    Empty,
    /// The body is not UTF-8.
    #[error("body is not UTF-8 (first bad byte at offset {valid_up_to})")]
    NotUtf8 {
        /// The offset of the first invalid byte.
        valid_up_to: usize,
    },
    /// A DOCTYPE or entity declaration: refused to close the XXE door.
    #[error("DOCTYPE and entity declarations are not accepted")]
    DoctypeRejected,
    /// The root element has the wrong name.
    #[error("root element must be <{expected}>, found <{found}>")]
    UnexpectedRoot {
        /// The expected name.
        expected: String,
        /// The name found.
        found: String,
    },
    /// An element inside a field element.
    #[error("element <{child}> nested inside <{parent}>; v2 messages are flat")]
    NestedElement {
        /// The field element.
        parent: String,
        /// The nested element.
        child: String,
    },
    /// The same field twice.
    #[error("duplicate element <{name}>")]
    DuplicateElement {
        /// The repeated name.
        name: String,
    },
    /// An element with attributes.
    #[error("element <{element}> has attributes; v2 messages have none")]
    Attributes {
        /// The element.
        element: String,
    },
    /// An entity reference other than the five predefined ones and character references.
    #[error("undefined or invalid entity &{entity};")]
    UnknownEntity {
        /// The entity text between `&` and `;`.
        entity: String,
    },
    /// A character XML does not allow (control characters, U+FFFE, U+FFFF).
    #[error("character not allowed in XML at offset {offset}")]
    InvalidCharacter {
        /// Byte offset in the body.
        offset: usize,
    },
    /// More fields than the limit.
    #[error("more than {limit} fields")]
    TooManyFields {
        /// The limit.
        limit: usize,
    },
    /// Any other syntax error.
    #[error("malformed XML at offset {offset}: {reason}")]
    Malformed {
        /// Byte offset in the body.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The writer was asked to write a value XML cannot carry.
    #[error("value of <{name}> holds a character XML cannot carry")]
    UnrepresentableValue {
        /// The field name.
        name: String,
    },
    /// The writer was asked to write a name that is not an XML name.
    #[error("{name:?} is not a valid element name")]
    InvalidName {
        /// The name.
        name: String,
    },
}

/// Reads a `<xml>` message with the default limits.
///
/// ```
/// use cashier_adapters::xml;
/// let fields = xml::read(b"<xml><a><![CDATA[x]]></a><b>1 &lt; 2</b></xml>").unwrap();
/// assert_eq!(fields.get("a"), Some("x"));
/// assert_eq!(fields.get("b"), Some("1 < 2"));
/// assert!(xml::read(b"<!DOCTYPE x><xml/>").is_err());
/// ```
pub fn read(body: &[u8]) -> Result<Fields, XmlError> {
    read_with_root(body, "xml", XmlLimits::default())
}

/// Reads a flat message whose root element is `root` (`xml` for messages, `root` for the
/// decrypted `req_info` of refund notifications).
pub fn read_with_root(body: &[u8], root: &str, limits: XmlLimits) -> Result<Fields, XmlError> {
    if body.len() > limits.max_body_bytes {
        return Err(XmlError::TooLarge {
            limit_bytes: limits.max_body_bytes,
            actual_bytes: body.len(),
        });
    }
    let text = std::str::from_utf8(body).map_err(|error| XmlError::NotUtf8 {
        valid_up_to: error.valid_up_to(),
    })?;
    Reader {
        text,
        position: 0,
        limits,
    }
    .document(root)
}

struct Reader<'a> {
    text: &'a str,
    position: usize,
    limits: XmlLimits,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or("")
    }

    fn starts_with(&self, prefix: &str) -> bool {
        self.rest().starts_with(prefix)
    }

    /// The byte `ahead` positions after the cursor. The hot loops dispatch on single bytes
    /// instead of comparing prefixes, which is most of the reader's speed.
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.position + ahead).copied()
    }

    fn advance(&mut self, bytes: usize) {
        self.position = (self.position + bytes).min(self.text.len());
    }

    fn malformed(&self, reason: &'static str) -> XmlError {
        XmlError::Malformed {
            offset: self.position,
            reason,
        }
    }

    fn skip_whitespace(&mut self) -> bool {
        let start = self.position;
        while matches!(self.peek(0), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.position += 1;
        }
        self.position > start
    }

    /// Skips whitespace and comments; rejects DOCTYPE and other markup declarations.
    fn skip_misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.skip_whitespace();
            if self.peek(0) != Some(b'<') || self.peek(1) != Some(b'!') {
                return Ok(());
            }
            if self.starts_with("<!--") {
                self.skip_past("-->", "unterminated comment")?;
            } else if self.starts_with("<!") && !self.starts_with("<![CDATA[") {
                return Err(self.declaration_error());
            } else {
                return Ok(());
            }
        }
    }

    fn declaration_error(&self) -> XmlError {
        let rest = self.rest().as_bytes();
        let head = rest.get(2..9).unwrap_or(&[]);
        if head.eq_ignore_ascii_case(b"DOCTYPE") || head.get(..6) == Some(b"ENTITY") {
            XmlError::DoctypeRejected
        } else {
            self.malformed("unexpected markup declaration")
        }
    }

    fn skip_past(&mut self, terminator: &str, reason: &'static str) -> Result<(), XmlError> {
        let end = memchr::memmem::find(self.rest().as_bytes(), terminator.as_bytes())
            .ok_or_else(|| self.malformed(reason))?;
        self.advance(end + terminator.len());
        Ok(())
    }

    fn document(mut self, root: &str) -> Result<Fields, XmlError> {
        self.advance(if self.starts_with("\u{feff}") { 3 } else { 0 });
        loop {
            self.skip_misc()?;
            if self.starts_with("<?") {
                self.skip_past("?>", "unterminated processing instruction")?;
            } else {
                break;
            }
        }
        if self.rest().is_empty() {
            return Err(XmlError::Empty);
        }
        if !self.starts_with("<") {
            return Err(self.malformed("text before the root element"));
        }
        self.advance(1);
        let name = self.name()?;
        if name != root {
            return Err(XmlError::UnexpectedRoot {
                expected: root.to_owned(),
                found: name.to_owned(),
            });
        }
        let mut fields = Fields::with_capacity(24);
        if !self.finish_start_tag(name)? {
            self.children(root, &mut fields)?;
        }
        self.skip_misc()?;
        if !self.rest().is_empty() {
            return Err(self.malformed("content after the root element"));
        }
        Ok(fields)
    }

    fn children(&mut self, root: &str, fields: &mut Fields) -> Result<(), XmlError> {
        loop {
            self.skip_misc()?;
            match (self.peek(0), self.peek(1)) {
                (Some(b'<'), Some(b'/')) => {
                    self.advance(2);
                    return self.end_tag(root);
                }
                (Some(b'<'), Some(b'?' | b'!')) => {
                    return Err(self.malformed("only elements may appear inside the root element"));
                }
                (Some(b'<'), _) => {}
                (None, _) => return Err(self.malformed("unterminated root element")),
                _ => return Err(self.malformed("text directly inside the root element")),
            }
            self.advance(1);
            let name = self.name()?;
            // The field is built directly as its sign piece `&name=value` (see Fields).
            let mut piece = String::with_capacity(name.len() + 40);
            piece.push('&');
            piece.push_str(name);
            piece.push('=');
            if !self.finish_start_tag(name)? {
                self.value_into(name, &mut piece)?;
            }
            if fields.len() >= self.limits.max_fields {
                return Err(XmlError::TooManyFields {
                    limit: self.limits.max_fields,
                });
            }
            fields
                .insert_new_piece(piece, name.len())
                .map_err(|duplicate| XmlError::DuplicateElement {
                    name: duplicate.name,
                })?;
        }
    }

    /// Reads an element name at the cursor.
    fn name(&mut self) -> Result<&'a str, XmlError> {
        let rest = self.rest();
        let length = rest
            .bytes()
            .enumerate()
            .take_while(|&(index, byte)| is_name_byte(byte, index == 0))
            .count();
        if length == 0 {
            return Err(self.malformed("expected an element name"));
        }
        self.advance(length);
        Ok(rest.get(..length).unwrap_or(""))
    }

    /// After a start tag's name: returns true for `/>`, false for `>`.
    fn finish_start_tag(&mut self, element: &str) -> Result<bool, XmlError> {
        if self.peek(0) == Some(b'>') {
            self.advance(1);
            return Ok(false);
        }
        let had_space = self.skip_whitespace();
        match (self.peek(0), self.peek(1)) {
            (Some(b'>'), _) => {
                self.advance(1);
                Ok(false)
            }
            (Some(b'/'), Some(b'>')) => {
                self.advance(2);
                Ok(true)
            }
            (Some(byte), _) if had_space && is_name_byte(byte, true) => Err(XmlError::Attributes {
                element: element.to_owned(),
            }),
            _ => Err(self.malformed("expected '>' to close a start tag")),
        }
    }

    fn end_tag(&mut self, expected: &str) -> Result<(), XmlError> {
        let name = self.name()?;
        if name != expected {
            return Err(self.malformed("end tag does not match its start tag"));
        }
        if self.peek(0) != Some(b'>') {
            self.skip_whitespace();
            if self.peek(0) != Some(b'>') {
                return Err(self.malformed("expected '>' to close an end tag"));
            }
        }
        self.advance(1);
        Ok(())
    }

    /// Appends a field's content to `value`, up to and including its end tag.
    fn value_into(&mut self, name: &str, value: &mut String) -> Result<(), XmlError> {
        loop {
            let rest = self.rest();
            let stop = memchr::memchr3(b'<', b'&', b'\r', rest.as_bytes())
                .ok_or_else(|| self.malformed("unterminated element"))?;
            let text = rest.get(..stop).unwrap_or("");
            // The stop set includes '\r', so `text` holds none and needs no normalisation.
            check_characters(text, self.position)?;
            // XML 1.0 §2.4: `]]>` may appear in character data only as the end of a CDATA
            // section (this also refuses a CDATA section nested in another). No '<', '&' or
            // '\r' can split it, so it lies within one text run.
            if memchr::memmem::find(text.as_bytes(), b"]]>").is_some() {
                return Err(self.malformed("']]>' outside a CDATA section"));
            }
            value.push_str(text);
            self.advance(stop);
            match (self.peek(0), self.peek(1)) {
                (Some(b'\r'), next) => {
                    self.advance(if next == Some(b'\n') { 2 } else { 1 });
                    value.push('\n');
                }
                (Some(b'&'), _) => self.entity(value)?,
                (Some(b'<'), Some(b'/')) => {
                    self.advance(2);
                    return self.end_tag(name);
                }
                (Some(b'<'), Some(b'!')) if self.starts_with("<![CDATA[") => {
                    self.advance(9);
                    let rest = self.rest();
                    let end = find_cdata_end(rest.as_bytes())
                        .ok_or_else(|| self.malformed("unterminated CDATA section"))?;
                    let content = rest.get(..end).unwrap_or("");
                    if check_characters(content, self.position)? {
                        push_normalised(value, content);
                    } else {
                        value.push_str(content);
                    }
                    self.advance(end + 3);
                }
                (Some(b'<'), Some(b'!')) if self.starts_with("<!--") => {
                    self.skip_past("-->", "unterminated comment")?;
                }
                _ => {
                    self.advance(1);
                    let child = self.name().unwrap_or("?");
                    return Err(XmlError::NestedElement {
                        parent: name.to_owned(),
                        child: child.to_owned(),
                    });
                }
            }
        }
    }

    fn entity(&mut self, value: &mut String) -> Result<(), XmlError> {
        let rest = self.rest();
        // The longest valid reference is `&#x10FFFF;` (10 bytes); the search is by byte so that
        // the window may end inside a multi-byte character.
        let end = rest
            .bytes()
            .take(12)
            .position(|byte| byte == b';')
            .ok_or_else(|| self.malformed("unterminated entity reference"))?;
        let entity = rest.get(1..end).unwrap_or("");
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => decode_character_reference(entity),
        };
        match decoded {
            Some(character) => {
                value.push(character);
                self.advance(end + 1);
                Ok(())
            }
            None => Err(XmlError::UnknownEntity {
                entity: entity.to_owned(),
            }),
        }
    }
}

fn decode_character_reference(entity: &str) -> Option<char> {
    let code = if let Some(hex) = entity.strip_prefix("#x") {
        if hex.is_empty() || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(hex, 16).ok()?
    } else {
        let decimal = entity.strip_prefix('#')?;
        if decimal.is_empty() || !decimal.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        decimal.parse().ok()?
    };
    char::from_u32(code).filter(|&character| is_xml_char(character))
}

fn is_name_byte(byte: u8, first: bool) -> bool {
    byte.is_ascii_alphabetic()
        || byte == b'_'
        || byte == b':'
        || (!first && (byte.is_ascii_digit() || byte == b'-' || byte == b'.'))
}

/// True for characters XML 1.0 allows in content.
pub fn is_xml_char(character: char) -> bool {
    match character {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// Checks that `text` holds only characters XML allows and says whether it holds a carriage
/// return (which then needs line-end normalisation). One byte scan: the only characters XML
/// forbids in UTF-8 text are C0 controls other than tab, LF and CR (single bytes below 0x20) and
/// U+FFFE/U+FFFF (EF BF BE / EF BF BF).
fn check_characters(text: &str, offset: usize) -> Result<bool, XmlError> {
    let bytes = text.as_bytes();
    let mut has_carriage_return = false;
    for (index, &byte) in bytes.iter().enumerate() {
        let forbidden = match byte {
            b'\r' => {
                has_carriage_return = true;
                false
            }
            b'\t' | b'\n' => false,
            0..=0x1f => true,
            0xEF => {
                bytes.get(index + 1) == Some(&0xBF)
                    && matches!(bytes.get(index + 2), Some(0xBE | 0xBF))
            }
            _ => false,
        };
        if forbidden {
            return Err(XmlError::InvalidCharacter {
                offset: offset + index,
            });
        }
    }
    Ok(has_carriage_return)
}

/// The offset of the `]]>` that ends a CDATA section.
fn find_cdata_end(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = memchr::memchr(b']', bytes.get(from..)?) {
        let at = from + found;
        if bytes.get(at + 1..at + 3) == Some(b"]>") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn push_normalised(value: &mut String, content: &str) {
    let mut characters = content.chars().peekable();
    while let Some(character) = characters.next() {
        if character == '\r' {
            if characters.peek() == Some(&'\n') {
                characters.next();
            }
            value.push('\n');
        } else {
            value.push(character);
        }
    }
}

/// True when the text holds a character of four UTF-8 bytes (most emoji), which v2 endpoints
/// reject: they accept only characters of one to three bytes (§0).
pub fn has_four_byte_characters(text: &str) -> bool {
    text.chars().any(|character| character.len_utf8() == 4)
}

/// Writes a `<xml>` message: every value in CDATA (a `]]>` inside a value is split across two
/// sections), except values holding a carriage return, which are written as escaped text with
/// `&#13;` so that the reader's line-end normalisation does not change them.
///
/// ```
/// use cashier_adapters::{xml, Fields};
/// let fields: Fields = [("body", "a]]>b"), ("total_fee", "1")].into_iter().collect();
/// let text = xml::write(&fields).unwrap();
/// assert_eq!(xml::read(text.as_bytes()).unwrap(), fields);
/// ```
pub fn write(fields: &Fields) -> Result<String, XmlError> {
    write_with_root("xml", fields.iter())
}

/// Writes a flat message with any root name from `(name, value)` pairs.
pub fn write_with_root<'a>(
    root: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, XmlError> {
    let mut out = String::with_capacity(512);
    out.push('<');
    out.push_str(root);
    out.push('>');
    for (name, value) in pairs {
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .enumerate()
                .all(|(index, byte)| is_name_byte(byte, index == 0));
        if !valid_name {
            return Err(XmlError::InvalidName {
                name: name.to_owned(),
            });
        }
        if !value.chars().all(is_xml_char) {
            return Err(XmlError::UnrepresentableValue {
                name: name.to_owned(),
            });
        }
        out.push('<');
        out.push_str(name);
        out.push('>');
        write_value(&mut out, value);
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("</");
    out.push_str(root);
    out.push('>');
    Ok(out)
}

fn write_value(out: &mut String, value: &str) {
    if value.contains('\r') {
        for character in value.chars() {
            match character {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '\r' => out.push_str("&#13;"),
                other => out.push(other),
            }
        }
        return;
    }
    out.push_str("<![CDATA[");
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str) -> Result<Fields, XmlError> {
        read(text.as_bytes())
    }

    #[test]
    fn accepts_cdata_plain_text_prolog_and_whitespace() {
        let fields = read_str(
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <return_code><![CDATA[SUCCESS]]></return_code>\n  <total_fee>888</total_fee>\n  <mixed>a<![CDATA[<b>]]>&amp;c</mixed><empty/><blank></blank>\n</xml>\n",
        );
        let fields = fields.unwrap_or_default();
        assert_eq!(fields.get("return_code"), Some("SUCCESS"));
        assert_eq!(fields.get("total_fee"), Some("888"));
        assert_eq!(fields.get("mixed"), Some("a<b>&c"));
        assert_eq!(fields.get("empty"), Some(""));
        assert_eq!(fields.get("blank"), Some(""));
    }

    #[test]
    fn rejects_doctype_and_entity_declarations() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><a>&x;</a></xml>";
        assert_eq!(read_str(xxe), Err(XmlError::DoctypeRejected));
        assert_eq!(
            read_str("<!doctype xml><xml/>"),
            Err(XmlError::DoctypeRejected)
        );
        assert_eq!(
            read_str("<xml><!ENTITY x \"y\"></xml>"),
            Err(XmlError::DoctypeRejected)
        );
        assert!(matches!(
            read_str("<xml><a>&x;</a></xml>"),
            Err(XmlError::UnknownEntity { .. })
        ));
    }

    #[test]
    fn rejects_duplicates_nesting_attributes_and_wrong_root() {
        assert!(matches!(
            read_str("<xml><a>1</a><a>2</a></xml>"),
            Err(XmlError::DuplicateElement { .. })
        ));
        assert!(matches!(
            read_str("<xml><a><b>1</b></a></xml>"),
            Err(XmlError::NestedElement { .. })
        ));
        assert!(matches!(
            read_str("<xml><a x=\"1\">1</a></xml>"),
            Err(XmlError::Attributes { .. })
        ));
        assert!(matches!(
            read_str("<root><a>1</a></root>"),
            Err(XmlError::UnexpectedRoot { .. })
        ));
        assert!(matches!(
            read_str("<xml><a>1</b></xml>"),
            Err(XmlError::Malformed { .. })
        ));
        assert!(matches!(
            read_str("<xml><a>1</a>"),
            Err(XmlError::Malformed { .. })
        ));
        assert!(matches!(read_str("  "), Err(XmlError::Empty)));
    }

    #[test]
    fn rejects_oversized_and_non_utf8_bodies() {
        let limits = XmlLimits {
            max_body_bytes: 10,
            max_fields: 10,
        };
        assert!(matches!(
            read_with_root(b"<xml><a>1</a></xml>", "xml", limits),
            Err(XmlError::TooLarge { .. })
        ));
        assert!(matches!(
            read(b"<xml><a>\xff</a></xml>"),
            Err(XmlError::NotUtf8 { valid_up_to: 8 })
        ));
    }

    #[test]
    fn character_references_and_line_ends_follow_xml() {
        let fields = read_str("<xml><a>&#20013;&#x6587;</a><b>x\r\ny\rz</b><c>&#13;</c></xml>")
            .unwrap_or_default();
        assert_eq!(fields.get("a"), Some("中文"));
        assert_eq!(fields.get("b"), Some("x\ny\nz"));
        assert_eq!(fields.get("c"), Some("\r"));
        assert_eq!(
            read_str("<xml><a>&amp;中文中文中文</a></xml>")
                .unwrap_or_default()
                .get("a"),
            Some("&中文中文中文")
        );
        assert!(matches!(
            read_str("<xml><a>&#0;</a></xml>"),
            Err(XmlError::UnknownEntity { .. })
        ));
    }

    /// XML 1.0 §2.4 (and WeChat's parsers, and wechatpy's expat): `]]>` in character data ends
    /// nothing and is refused, so is a CDATA section nested in another; escaped, it is fine.
    #[test]
    fn a_stray_cdata_end_and_nested_cdata_are_refused() {
        assert!(matches!(
            read_str("<xml><a>x]]>y</a></xml>"),
            Err(XmlError::Malformed { .. })
        ));
        let nested = "<xml><a><![CDATA[a<![CDATA[b]]>c]]></a></xml>";
        assert!(matches!(read_str(nested), Err(XmlError::Malformed { .. })));
        let escaped = read_str("<xml><a>x]]&gt;y</a><b><![CDATA[x]]]]><![CDATA[>y]]></b></xml>")
            .unwrap_or_default();
        assert_eq!(escaped.get("a"), Some("x]]>y"));
        assert_eq!(escaped.get("b"), Some("x]]>y"));
    }

    #[test]
    fn writer_round_trips_awkward_values() {
        let fields: Fields = [
            ("a", "]]>"),
            ("b", "<&>\"'"),
            ("c", "中文 ]]]]> end"),
            ("d", "cr\r\nlf"),
            ("e", ""),
        ]
        .into_iter()
        .collect();
        let text = write(&fields).unwrap_or_default();
        assert_eq!(read_str(&text), Ok(fields));
    }

    #[test]
    fn writer_rejects_what_xml_cannot_carry() {
        let bad_value: Fields = [("a", "\u{1}")].into_iter().collect();
        assert!(matches!(
            write(&bad_value),
            Err(XmlError::UnrepresentableValue { .. })
        ));
        let bad_name: Fields = [("1a", "x")].into_iter().collect();
        assert!(matches!(
            write(&bad_name),
            Err(XmlError::InvalidName { .. })
        ));
    }
}
