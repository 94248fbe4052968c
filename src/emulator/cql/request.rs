//! The requests a client sends (§4.1 of `native_protocol_v4.spec`), decoded from a frame body.

use std::collections::HashMap;

use super::frame::{FLAG_CUSTOM_PAYLOAD, Frame, FrameError, Opcode, Reader};
use super::outcome::{CqlError, ErrorKind};

/// Query flag: values follow.
const VALUES: u8 = 0x01;
/// Query flag: the client does not need the result metadata.
const SKIP_METADATA: u8 = 0x02;
/// Query flag: a page size follows.
const PAGE_SIZE: u8 = 0x04;
/// Query flag: a paging state follows.
const PAGING_STATE: u8 = 0x08;
/// Query flag: a serial consistency follows.
const SERIAL_CONSISTENCY: u8 = 0x10;
/// Query flag: a default timestamp follows.
const DEFAULT_TIMESTAMP: u8 = 0x20;
/// Query flag: values carry names.
const NAMES_FOR_VALUES: u8 = 0x40;

/// The parameters of a `QUERY` or `EXECUTE` that the emulator uses (consistency, serial
/// consistency and timestamp are read and ignored: there is one copy of the data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// Bound values; `None` is a null (an unset value, `-2`, is also taken as null).
    pub values: Vec<Option<Vec<u8>>>,
    /// The client does not want the result metadata again.
    pub skip_metadata: bool,
    /// Rows per page; `None` (or not positive) returns every row at once.
    pub page_size: Option<i32>,
    /// Where the previous page ended, as the emulator wrote it.
    pub paging_state: Option<Vec<u8>>,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `STARTUP` with its options.
    Startup(HashMap<String, String>),
    /// `OPTIONS`.
    Options,
    /// `AUTH_RESPONSE` with its SASL token.
    AuthResponse(Vec<u8>),
    /// `QUERY`.
    Query {
        /// The statement.
        text: String,
        /// Its parameters.
        params: QueryParams,
    },
    /// `PREPARE`.
    Prepare {
        /// The statement.
        text: String,
    },
    /// `EXECUTE`.
    Execute {
        /// The prepared statement's id.
        id: Vec<u8>,
        /// Its parameters.
        params: QueryParams,
    },
    /// `REGISTER` (for events, which the emulator never pushes).
    Register,
    /// `BATCH` (refused).
    Batch,
}

impl Request {
    /// Decodes a frame; a malformed body is a protocol error, a named value an invalid request.
    pub fn decode(frame: &Frame) -> Result<Request, CqlError> {
        let mut r = Reader::new(&frame.body);
        if frame.header.flags & FLAG_CUSTOM_PAYLOAD != 0 {
            r.skip_bytes_map("custom payload").map_err(protocol)?;
        }
        let op = frame.header.opcode;
        let request = if op == Opcode::Startup as u8 {
            Request::Startup(r.string_map("STARTUP options").map_err(protocol)?)
        } else if op == Opcode::Options as u8 {
            Request::Options
        } else if op == Opcode::AuthResponse as u8 {
            Request::AuthResponse(r.bytes("SASL token").map_err(protocol)?.unwrap_or_default())
        } else if op == Opcode::Query as u8 {
            let text = r.long_string("query string").map_err(protocol)?;
            Request::Query {
                text,
                params: QueryParams::decode(&mut r)?,
            }
        } else if op == Opcode::Prepare as u8 {
            Request::Prepare {
                text: r.long_string("query string").map_err(protocol)?,
            }
        } else if op == Opcode::Execute as u8 {
            let id = r.short_bytes("statement id").map_err(protocol)?;
            Request::Execute {
                id,
                params: QueryParams::decode(&mut r)?,
            }
        } else if op == Opcode::Register as u8 {
            Request::Register
        } else if op == Opcode::Batch as u8 {
            Request::Batch
        } else {
            return Err(CqlError {
                kind: ErrorKind::Protocol,
                message: format!("Unknown opcode {op}"),
            });
        };
        Ok(request)
    }
}

impl QueryParams {
    /// Reads `<consistency><flags>[<n><value_1>...][<page_size>][<paging_state>]
    /// [<serial_consistency>][<timestamp>]`.
    fn decode(r: &mut Reader<'_>) -> Result<QueryParams, CqlError> {
        r.short("consistency").map_err(protocol)?;
        let flags = r.byte("query flags").map_err(protocol)?;
        if flags & NAMES_FOR_VALUES != 0 {
            return Err(CqlError::invalid(
                "Named bind values are not supported by the emulator; bind values by position",
            ));
        }
        let mut params = QueryParams {
            skip_metadata: flags & SKIP_METADATA != 0,
            ..QueryParams::default()
        };
        if flags & VALUES != 0 {
            let n = r.short("value count").map_err(protocol)?;
            for _ in 0..n {
                params
                    .values
                    .push(r.bytes("bound value").map_err(protocol)?);
            }
        }
        if flags & PAGE_SIZE != 0 {
            params.page_size = Some(r.int("page size").map_err(protocol)?);
        }
        if flags & PAGING_STATE != 0 {
            params.paging_state = r.bytes("paging state").map_err(protocol)?;
        }
        if flags & SERIAL_CONSISTENCY != 0 {
            r.short("serial consistency").map_err(protocol)?;
        }
        if flags & DEFAULT_TIMESTAMP != 0 {
            r.long("default timestamp").map_err(protocol)?;
        }
        Ok(params)
    }
}

/// A malformed body as a protocol error.
fn protocol(e: FrameError) -> CqlError {
    CqlError {
        kind: ErrorKind::Protocol,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::cql::frame::Header;

    fn frame(opcode: Opcode, body: Vec<u8>) -> Frame {
        Frame {
            header: Header {
                flags: 0,
                stream: 1,
                opcode: opcode as u8,
            },
            body,
        }
    }

    #[test]
    fn a_query_with_every_parameter_is_decoded() {
        let mut body = Vec::new();
        body.extend_from_slice(&3i32.to_be_bytes());
        body.extend_from_slice(b"X ?");
        body.extend_from_slice(&1u16.to_be_bytes()); // ONE
        body.push(VALUES | PAGE_SIZE | PAGING_STATE | SERIAL_CONSISTENCY | DEFAULT_TIMESTAMP);
        body.extend_from_slice(&2u16.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.push(9);
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&10i32.to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(&[7, 7]);
        body.extend_from_slice(&8u16.to_be_bytes());
        body.extend_from_slice(&5i64.to_be_bytes());
        let request = Request::decode(&frame(Opcode::Query, body)).unwrap();
        assert_eq!(
            request,
            Request::Query {
                text: "X ?".into(),
                params: QueryParams {
                    values: vec![Some(vec![9]), None],
                    skip_metadata: false,
                    page_size: Some(10),
                    paging_state: Some(vec![7, 7]),
                },
            }
        );
    }

    #[test]
    fn a_cut_query_is_a_protocol_error_and_named_values_are_refused() {
        let mut body = Vec::new();
        body.extend_from_slice(&1i32.to_be_bytes());
        body.push(b'X');
        let err = Request::decode(&frame(Opcode::Query, body.clone())).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
        assert_eq!(err.message, "Not enough bytes to read consistency");

        body.extend_from_slice(&1u16.to_be_bytes());
        body.push(NAMES_FOR_VALUES);
        let err = Request::decode(&frame(Opcode::Query, body)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("Named bind values"), "{}", err.message);
    }
}
