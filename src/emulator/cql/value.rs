//! CQL types and values as the emulator serves them, with their encoding on the wire (§6 of
//! `native_protocol_v4.spec`): a value is `[int length][bytes]`, a null has length -1, and a
//! collection holds `[int count]` then each element (and key) as a value.

use std::fmt;
use std::net::IpAddr;

use uuid::Uuid;

/// A CQL type the emulator's tables, results and markers use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CqlType {
    /// `ascii`.
    Ascii,
    /// `bigint`.
    Bigint,
    /// `blob`.
    Blob,
    /// `boolean`.
    Boolean,
    /// `double`.
    Double,
    /// `float`.
    Float,
    /// `int`.
    Int,
    /// `text` (also `varchar`).
    Text,
    /// `timestamp`: milliseconds since the epoch.
    Timestamp,
    /// `uuid`.
    Uuid,
    /// `timeuuid`.
    Timeuuid,
    /// `inet`.
    Inet,
    /// `list<T>`.
    List(Box<CqlType>),
    /// `set<T>`.
    Set(Box<CqlType>),
    /// `map<K, V>`.
    Map(Box<CqlType>, Box<CqlType>),
    /// `frozen<T>`: the same bytes as `T`; kept for how the type is written in the schema.
    Frozen(Box<CqlType>),
}

impl CqlType {
    /// The protocol's `[option]` id of the type (§4.2.5.2); a frozen type is its inner type.
    pub fn option_id(&self) -> u16 {
        match self {
            CqlType::Ascii => 0x0001,
            CqlType::Bigint => 0x0002,
            CqlType::Blob => 0x0003,
            CqlType::Boolean => 0x0004,
            CqlType::Double => 0x0007,
            CqlType::Float => 0x0008,
            CqlType::Int => 0x0009,
            CqlType::Text => 0x000D,
            CqlType::Timestamp => 0x000B,
            CqlType::Uuid => 0x000C,
            CqlType::Timeuuid => 0x000F,
            CqlType::Inet => 0x0010,
            CqlType::List(_) => 0x0020,
            CqlType::Map(_, _) => 0x0021,
            CqlType::Set(_) => 0x0022,
            CqlType::Frozen(inner) => inner.option_id(),
        }
    }

    /// The type with any `frozen<>` wrapper removed, as it travels on the wire.
    pub fn unfrozen(&self) -> &CqlType {
        match self {
            CqlType::Frozen(inner) => inner.unfrozen(),
            other => other,
        }
    }

    /// `map<text, text>`, the type of most schema option columns.
    pub fn text_map() -> CqlType {
        CqlType::Map(Box::new(CqlType::Text), Box::new(CqlType::Text))
    }
}

impl fmt::Display for CqlType {
    /// The type as CQL (and `system_schema.columns.type`) writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CqlType::Ascii => f.write_str("ascii"),
            CqlType::Bigint => f.write_str("bigint"),
            CqlType::Blob => f.write_str("blob"),
            CqlType::Boolean => f.write_str("boolean"),
            CqlType::Double => f.write_str("double"),
            CqlType::Float => f.write_str("float"),
            CqlType::Int => f.write_str("int"),
            CqlType::Text => f.write_str("text"),
            CqlType::Timestamp => f.write_str("timestamp"),
            CqlType::Uuid => f.write_str("uuid"),
            CqlType::Timeuuid => f.write_str("timeuuid"),
            CqlType::Inet => f.write_str("inet"),
            CqlType::List(t) => write!(f, "list<{t}>"),
            CqlType::Set(t) => write!(f, "set<{t}>"),
            CqlType::Map(k, v) => write!(f, "map<{k}, {v}>"),
            CqlType::Frozen(t) => write!(f, "frozen<{t}>"),
        }
    }
}

/// A CQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// `text` or `ascii`.
    Text(String),
    /// `bigint`.
    Bigint(i64),
    /// `int`.
    Int(i32),
    /// `boolean`.
    Boolean(bool),
    /// `double`.
    Double(f64),
    /// `float`.
    Float(f32),
    /// `timestamp`, in milliseconds since the epoch.
    Timestamp(i64),
    /// `uuid` or `timeuuid`.
    Uuid(Uuid),
    /// `inet`.
    Inet(IpAddr),
    /// `blob`.
    Blob(Vec<u8>),
    /// `list<T>`.
    List(Vec<Value>),
    /// `set<T>`, in the set's order.
    Set(Vec<Value>),
    /// `map<K, V>`, in the map's key order.
    Map(Vec<(Value, Value)>),
}

/// Why bound bytes could not be read as a value of their marker's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} but got {found} bytes")]
pub struct DecodeError {
    /// The type expected.
    pub expected: String,
    /// How many bytes came (or what was wrong with them).
    pub found: String,
}

impl Value {
    /// A `text` value.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// A `map<text, text>` value from pairs.
    pub fn text_map<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::text(k), Value::text(v)))
                .collect(),
        )
    }

    /// Appends the value as a protocol `[bytes]`: its length (-1 for null), then its bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
            other => {
                let mut body = Vec::new();
                other.encode_body(&mut body);
                out.extend_from_slice(&(body.len() as i32).to_be_bytes());
                out.extend_from_slice(&body);
            }
        }
    }

    /// The value's bytes without the length prefix.
    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => {}
            Value::Text(s) => out.extend_from_slice(s.as_bytes()),
            Value::Bigint(n) | Value::Timestamp(n) => out.extend_from_slice(&n.to_be_bytes()),
            Value::Int(n) => out.extend_from_slice(&n.to_be_bytes()),
            Value::Boolean(b) => out.push(u8::from(*b)),
            Value::Double(d) => out.extend_from_slice(&d.to_be_bytes()),
            Value::Float(d) => out.extend_from_slice(&d.to_be_bytes()),
            Value::Uuid(u) => out.extend_from_slice(u.as_bytes()),
            Value::Inet(IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
            Value::Inet(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
            Value::Blob(b) => out.extend_from_slice(b),
            Value::List(items) | Value::Set(items) => {
                out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                for item in items {
                    item.encode(out);
                }
            }
            Value::Map(pairs) => {
                out.extend_from_slice(&(pairs.len() as i32).to_be_bytes());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
        }
    }

    /// Reads bound bytes (`None` is a null) as a value of type `ty`.
    pub fn decode(ty: &CqlType, bytes: Option<&[u8]>) -> Result<Value, DecodeError> {
        let Some(bytes) = bytes else {
            return Ok(Value::Null);
        };
        let fail = || DecodeError {
            expected: ty.to_string(),
            found: bytes.len().to_string(),
        };
        let fixed = |n: usize| -> Result<&[u8], DecodeError> {
            if bytes.len() == n {
                Ok(bytes)
            } else {
                Err(fail())
            }
        };
        Ok(match ty.unfrozen() {
            CqlType::Ascii | CqlType::Text => Value::Text(
                std::str::from_utf8(bytes)
                    .map_err(|_| DecodeError {
                        expected: ty.to_string(),
                        found: "bytes that are not UTF-8".into(),
                    })?
                    .to_string(),
            ),
            CqlType::Bigint => Value::Bigint(i64::from_be_bytes(
                fixed(8)?.try_into().map_err(|_| fail())?,
            )),
            CqlType::Timestamp => Value::Timestamp(i64::from_be_bytes(
                fixed(8)?.try_into().map_err(|_| fail())?,
            )),
            CqlType::Int => Value::Int(i32::from_be_bytes(
                fixed(4)?.try_into().map_err(|_| fail())?,
            )),
            CqlType::Boolean => Value::Boolean(fixed(1)?[0] != 0),
            CqlType::Double => Value::Double(f64::from_be_bytes(
                fixed(8)?.try_into().map_err(|_| fail())?,
            )),
            CqlType::Float => Value::Float(f32::from_be_bytes(
                fixed(4)?.try_into().map_err(|_| fail())?,
            )),
            CqlType::Uuid | CqlType::Timeuuid => {
                Value::Uuid(Uuid::from_slice(fixed(16)?).map_err(|_| fail())?)
            }
            CqlType::Inet => match bytes.len() {
                4 => Value::Inet(IpAddr::from(
                    <[u8; 4]>::try_from(bytes).map_err(|_| fail())?,
                )),
                16 => Value::Inet(IpAddr::from(
                    <[u8; 16]>::try_from(bytes).map_err(|_| fail())?,
                )),
                _ => return Err(fail()),
            },
            CqlType::Blob => Value::Blob(bytes.to_vec()),
            CqlType::List(t) | CqlType::Set(t) => {
                let mut r = Reader { bytes, at: 0 };
                let n = r.count().ok_or_else(fail)?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(Value::decode(t, r.value().ok_or_else(fail)?)?);
                }
                if matches!(ty.unfrozen(), CqlType::Set(_)) {
                    Value::Set(items)
                } else {
                    Value::List(items)
                }
            }
            CqlType::Map(k, v) => {
                let mut r = Reader { bytes, at: 0 };
                let n = r.count().ok_or_else(fail)?;
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let key = Value::decode(k, r.value().ok_or_else(fail)?)?;
                    let value = Value::decode(v, r.value().ok_or_else(fail)?)?;
                    pairs.push((key, value));
                }
                Value::Map(pairs)
            }
            CqlType::Frozen(_) => return Err(fail()),
        })
    }

    /// The value as text, when it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads the elements of an encoded collection.
struct Reader<'a> {
    /// The collection's bytes.
    bytes: &'a [u8],
    /// Read position.
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next `[int]`.
    fn int(&mut self) -> Option<i32> {
        let b = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(i32::from_be_bytes(b.try_into().ok()?))
    }

    /// The element count of the collection.
    fn count(&mut self) -> Option<usize> {
        usize::try_from(self.int()?).ok()
    }

    /// The next element: `Some(None)` for a null.
    fn value(&mut self) -> Option<Option<&'a [u8]>> {
        let len = self.int()?;
        if len < 0 {
            return Some(None);
        }
        let end = self.at.checked_add(len as usize)?;
        let b = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(Some(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_bytes() {
        let cases = [
            (CqlType::Text, Value::text("dc1")),
            (CqlType::Int, Value::Int(-7)),
            (CqlType::Bigint, Value::Bigint(1 << 40)),
            (CqlType::Boolean, Value::Boolean(true)),
            (CqlType::Uuid, Value::Uuid(Uuid::from_u128(42))),
            (CqlType::Inet, Value::Inet("127.0.0.11".parse().unwrap())),
            (
                CqlType::Set(Box::new(CqlType::Text)),
                Value::Set(vec![Value::text("a"), Value::text("b")]),
            ),
            (CqlType::text_map(), Value::text_map([("class", "x")])),
        ];
        for (ty, v) in cases {
            let mut out = Vec::new();
            v.encode(&mut out);
            let len = i32::from_be_bytes(out[..4].try_into().unwrap());
            assert_eq!(len as usize, out.len() - 4);
            assert_eq!(Value::decode(&ty, Some(&out[4..])).unwrap(), v, "{ty}");
        }
        assert_eq!(Value::decode(&CqlType::Int, None).unwrap(), Value::Null);
        assert!(Value::decode(&CqlType::Int, Some(&[1, 2])).is_err());
        assert!(Value::decode(&CqlType::text_map(), Some(&[0, 0, 0, 9])).is_err());
        assert_eq!(CqlType::text_map().to_string(), "map<text, text>");
    }
}
