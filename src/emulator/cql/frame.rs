//! Native protocol v4 frames (§2 of `native_protocol_v4.spec`): the 9-byte header, reading a
//! whole frame off a connection with its size checked, and the primitive notations (§3) a body
//! is made of, read without ever panicking on a client's bytes.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The only protocol version served.
pub const VERSION: u8 = 4;
/// The direction bit of the version byte: set on responses.
const RESPONSE: u8 = 0x80;
/// Header length.
pub const HEADER_LEN: usize = 9;
/// Largest body accepted, as Scylla's default `native_transport_max_frame_size_in_mb` (256 MiB).
pub const MAX_BODY: usize = 256 * 1024 * 1024;
/// Largest body of a connection's first frame (a `STARTUP` is a few options), as Scylla.
pub const MAX_FIRST_BODY: usize = 100_000;
/// Header flag: the body is compressed.
pub const FLAG_COMPRESSION: u8 = 0x01;
/// Header flag: the body starts with a custom payload.
pub const FLAG_CUSTOM_PAYLOAD: u8 = 0x04;

/// The opcodes of §2.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// `ERROR`.
    Error = 0x00,
    /// `STARTUP`.
    Startup = 0x01,
    /// `READY`.
    Ready = 0x02,
    /// `AUTHENTICATE`.
    Authenticate = 0x03,
    /// `OPTIONS`.
    Options = 0x05,
    /// `SUPPORTED`.
    Supported = 0x06,
    /// `QUERY`.
    Query = 0x07,
    /// `RESULT`.
    Result = 0x08,
    /// `PREPARE`.
    Prepare = 0x09,
    /// `EXECUTE`.
    Execute = 0x0A,
    /// `REGISTER`.
    Register = 0x0B,
    /// `BATCH`.
    Batch = 0x0D,
    /// `AUTH_RESPONSE`.
    AuthResponse = 0x0F,
    /// `AUTH_SUCCESS`.
    AuthSuccess = 0x10,
}

/// Why a frame or a body could not be read: answered with a protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The version byte is not 4 (v4 requests only).
    #[error("Invalid or unsupported protocol version: {0}")]
    Version(u8),
    /// The version byte changed after the first frame.
    #[error(
        "Invalid message version. Got {got} but previous messages on this connection had version {VERSION}"
    )]
    VersionChanged {
        /// The version of this frame.
        got: u8,
    },
    /// The body is larger than [`MAX_BODY`].
    #[error("request size too large (frame size {0}; allowed {MAX_BODY})")]
    TooLarge(u32),
    /// The first frame's body is larger than a `STARTUP` or `OPTIONS` can be.
    #[error("Initial message size too large ({0}), rejecting as invalid")]
    FirstTooLarge(u32),
    /// A body ended before what it declared.
    #[error("Not enough bytes to read {0}")]
    Truncated(&'static str),
    /// A string that is not UTF-8.
    #[error("The {0} is not valid UTF-8")]
    Utf8(&'static str),
}

/// A request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Flags (compression, tracing, custom payload, warning, beta).
    pub flags: u8,
    /// Stream id the answer must carry.
    pub stream: i16,
    /// Opcode byte (unchecked: an unknown opcode gets a protocol error on its stream).
    pub opcode: u8,
}

/// One request frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its header.
    pub header: Header,
    /// Its body.
    pub body: Vec<u8>,
}

/// Reads one frame (`first`: the connection's first, which decides its version). `Ok(None)` is a
/// clean end of the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    first: bool,
) -> Result<Option<Frame>, ReadError> {
    let mut header = [0u8; HEADER_LEN];
    // The first byte alone, so a closed connection is told apart from a cut header.
    match reader.read(&mut header[..1]).await {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(ReadError::Io(e)),
    }
    if header[0] != VERSION {
        return Err(ReadError::Frame(if first {
            FrameError::Version(header[0])
        } else {
            FrameError::VersionChanged { got: header[0] }
        }));
    }
    reader
        .read_exact(&mut header[1..])
        .await
        .map_err(ReadError::Io)?;
    let declared = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
    let length = declared as usize;
    if first && length > MAX_FIRST_BODY {
        return Err(ReadError::Frame(FrameError::FirstTooLarge(declared)));
    }
    if length > MAX_BODY {
        return Err(ReadError::Frame(FrameError::TooLarge(declared)));
    }
    // Grown as bytes arrive, so a header promising a large body costs nothing until it comes.
    let mut body = Vec::with_capacity(length.min(64 * 1024));
    (&mut *reader)
        .take(length as u64)
        .read_to_end(&mut body)
        .await
        .map_err(ReadError::Io)?;
    if body.len() != length {
        return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Some(Frame {
        header: Header {
            flags: header[1],
            stream: i16::from_be_bytes([header[2], header[3]]),
            opcode: header[4],
        },
        body,
    }))
}

/// Why reading a frame stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The connection failed or closed inside a frame.
    #[error("connection: {0}")]
    Io(std::io::Error),
    /// The frame is malformed: answer with a protocol error, then close.
    #[error(transparent)]
    Frame(FrameError),
}

/// Encodes a response frame with `body`.
pub fn response(stream: i16, opcode: Opcode, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(VERSION | RESPONSE);
    out.push(0);
    out.extend_from_slice(&stream.to_be_bytes());
    out.push(opcode as u8);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A cursor over a request body.
#[derive(Debug)]
pub struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `body`.
    pub fn new(body: &'a [u8]) -> Self {
        Reader { rest: body }
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < n {
            return Err(FrameError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Everything left.
    pub fn remaining(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// A `[byte]`.
    pub fn byte(&mut self, what: &'static str) -> Result<u8, FrameError> {
        Ok(self.take(1, what)?[0])
    }

    /// A `[short]`.
    pub fn short(&mut self, what: &'static str) -> Result<u16, FrameError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// An `[int]`.
    pub fn int(&mut self, what: &'static str) -> Result<i32, FrameError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `[long]`.
    pub fn long(&mut self, what: &'static str) -> Result<i64, FrameError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A `[string]`.
    pub fn string(&mut self, what: &'static str) -> Result<String, FrameError> {
        let n = usize::from(self.short(what)?);
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| FrameError::Utf8(what))
    }

    /// A `[long string]`.
    pub fn long_string(&mut self, what: &'static str) -> Result<String, FrameError> {
        let n = usize::try_from(self.int(what)?).map_err(|_| FrameError::Truncated(what))?;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| FrameError::Utf8(what))
    }

    /// A `[short bytes]`.
    pub fn short_bytes(&mut self, what: &'static str) -> Result<Vec<u8>, FrameError> {
        let n = usize::from(self.short(what)?);
        Ok(self.take(n, what)?.to_vec())
    }

    /// A `[bytes]` (`None` for a negative length: null).
    pub fn bytes(&mut self, what: &'static str) -> Result<Option<Vec<u8>>, FrameError> {
        let n = self.int(what)?;
        match usize::try_from(n) {
            Ok(n) => Ok(Some(self.take(n, what)?.to_vec())),
            Err(_) => Ok(None),
        }
    }

    /// A `[string map]`.
    pub fn string_map(
        &mut self,
        what: &'static str,
    ) -> Result<HashMap<String, String>, FrameError> {
        let n = self.short(what)?;
        let mut map = HashMap::new();
        for _ in 0..n {
            let k = self.string(what)?;
            let v = self.string(what)?;
            map.insert(k, v);
        }
        Ok(map)
    }

    /// A `[bytes map]`, skipped (custom payloads are ignored).
    pub fn skip_bytes_map(&mut self, what: &'static str) -> Result<(), FrameError> {
        let n = self.short(what)?;
        for _ in 0..n {
            self.string(what)?;
            self.bytes(what)?;
        }
        Ok(())
    }
}

/// Builds a response body from the primitive notations.
#[derive(Debug, Default)]
pub struct Writer {
    /// The body so far.
    pub out: Vec<u8>,
}

impl Writer {
    /// A `[short]`.
    pub fn short(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// An `[int]`.
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `[string]` (cut at 65535 bytes, which no name or message the emulator sends reaches).
    pub fn string(&mut self, s: &str) -> &mut Self {
        let mut end = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.short(end as u16);
        self.out.extend_from_slice(&s.as_bytes()[..end]);
        self
    }

    /// A `[short bytes]` (ids the emulator makes are 16 bytes; longer input is cut).
    pub fn short_bytes(&mut self, b: &[u8]) -> &mut Self {
        let b = &b[..b.len().min(usize::from(u16::MAX))];
        self.short(b.len() as u16);
        self.out.extend_from_slice(b);
        self
    }

    /// A `[bytes]`; `None` is a null.
    pub fn bytes(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            Some(b) => {
                self.int(b.len() as i32);
                self.out.extend_from_slice(b);
            }
            None => {
                self.int(-1);
            }
        }
        self
    }

    /// A `[string multimap]`.
    pub fn string_multimap(&mut self, map: &[(&str, &[&str])]) -> &mut Self {
        self.short(map.len() as u16);
        for (k, vs) in map {
            self.string(k);
            self.short(vs.len() as u16);
            for v in *vs {
                self.string(v);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_is_read_and_a_cut_body_is_an_error_not_a_panic() {
        let mut bytes = vec![4, 0, 0, 7, 0x05, 0, 0, 0, 2, 0xAA, 0xBB];
        let frame = read_frame(&mut bytes.as_slice(), true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame.header.stream, 7);
        assert_eq!(frame.header.opcode, 0x05);
        assert_eq!(frame.body, vec![0xAA, 0xBB]);

        bytes.truncate(10);
        assert!(matches!(
            read_frame(&mut bytes.as_slice(), true).await,
            Err(ReadError::Io(_))
        ));
        let mut reader = Reader::new(&[0, 5, b'a']);
        assert_eq!(reader.string("query"), Err(FrameError::Truncated("query")));
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_before_reading_its_body() {
        let bytes = [4u8, 0, 0, 1, 0x07, 0xFF, 0xFF, 0xFF, 0xFF];
        match read_frame(&mut bytes.as_slice(), false).await {
            Err(ReadError::Frame(e)) => assert_eq!(
                e.to_string(),
                "request size too large (frame size 4294967295; allowed 268435456)"
            ),
            other => panic!("unexpected {other:?}"),
        }
        match read_frame(&mut bytes.as_slice(), true).await {
            Err(ReadError::Frame(FrameError::FirstTooLarge(n))) => assert_eq!(n, u32::MAX),
            other => panic!("unexpected {other:?}"),
        }
    }
}
