//! One client connection: the handshake (`OPTIONS`, `STARTUP`, SASL PLAIN login), the current
//! keyspace, and the requests after login. Requests may be pipelined: each statement runs in its
//! own task (the engine on a blocking thread) and its answer carries its stream id, in whatever
//! order they finish. `REGISTER` is answered `READY` but no events are ever pushed.
//!
//! A bad statement gets an `ERROR` on its stream and the connection goes on; a malformed frame
//! header (wrong version, oversized body) gets a protocol error on stream 0, then the connection
//! closes, as in Scylla.

use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::frame::{self, FLAG_COMPRESSION, Frame, Opcode, ReadError};
use super::outcome::{CqlError, ErrorKind, Outcome};
use super::paging;
use super::request::{QueryParams, Request};
use super::response;
use super::service::{Prepared, Service};

/// Where the login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    /// Before `STARTUP`.
    Uninitialized,
    /// `AUTHENTICATE` sent, waiting for `AUTH_RESPONSE`.
    Authenticating,
    /// Logged in.
    Ready,
}

/// An answer: the stream it goes to, its opcode and body.
type Answer = (i16, Opcode, Vec<u8>);

/// Serves one connection until the client closes it or sends a malformed frame.
pub async fn serve(socket: TcpStream, service: Arc<Service>) {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    // Every task of the connection: dropped (aborted) with it when the node goes down.
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    });
    let keyspace = Arc::new(Mutex::new(None::<String>));
    let mut login = Login::Uninitialized;
    let mut first = true;
    loop {
        let frame = match frame::read_frame(&mut read, first).await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(ReadError::Io(_)) => break,
            Err(ReadError::Frame(e)) => {
                let e = CqlError {
                    kind: ErrorKind::Protocol,
                    message: e.to_string(),
                };
                let _ = tx.send(frame::response(0, Opcode::Error, &response::error(&e)));
                break;
            }
        };
        first = false;
        let stream = frame.header.stream;
        match handle(&frame, &mut login, &service, &keyspace) {
            Handled::Now(opcode, body) => {
                let _ = tx.send(frame::response(stream, opcode, &body));
            }
            Handled::Later(work) => {
                let tx = tx.clone();
                tasks.spawn(async move {
                    let (stream, opcode, body) = work.run(stream).await;
                    let _ = tx.send(frame::response(stream, opcode, &body));
                });
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    // Let in-flight statements answer, then the writer flushes and closes.
    drop(tx);
    while tasks.join_next().await.is_some() {}
}

/// How a request is answered.
enum Handled {
    /// At once (handshake, refusals).
    Now(Opcode, Vec<u8>),
    /// By running a statement.
    Later(Work),
}

/// A statement to run off the read loop.
struct Work {
    /// The node's service.
    service: Arc<Service>,
    /// The connection's keyspace (a `USE` result updates it).
    keyspace: Arc<Mutex<Option<String>>>,
    /// The request.
    request: Request,
}

/// Answers a request at once or hands back the statement to run.
fn handle(
    frame: &Frame,
    login: &mut Login,
    service: &Arc<Service>,
    keyspace: &Arc<Mutex<Option<String>>>,
) -> Handled {
    let op = frame.header.opcode;
    let refuse = |e: CqlError| Handled::Now(Opcode::Error, response::error(&e));
    let protocol = |message: String| {
        refuse(CqlError {
            kind: ErrorKind::Protocol,
            message,
        })
    };
    match *login {
        Login::Uninitialized if op != Opcode::Startup as u8 && op != Opcode::Options as u8 => {
            return protocol(format!(
                "Unexpected message {op}, expecting STARTUP or OPTIONS"
            ));
        }
        Login::Authenticating if op != Opcode::AuthResponse as u8 => {
            return protocol(format!("Unexpected message {op}, expecting SASL_RESPONSE"));
        }
        Login::Ready if op == Opcode::Startup as u8 => {
            return protocol(
                "Unexpected message STARTUP, the connection is already initialized".into(),
            );
        }
        _ => {}
    }
    if frame.header.flags & FLAG_COMPRESSION != 0 {
        return protocol("Compressed frames are not supported: no compression was agreed".into());
    }
    let request = match Request::decode(frame) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    match request {
        Request::Options => Handled::Now(Opcode::Supported, response::supported()),
        Request::Startup(options) => {
            if let Some(algorithm) = options.get("COMPRESSION") {
                return protocol(format!(
                    "Unknown compression algorithm: {algorithm} (the emulator offers none)"
                ));
            }
            *login = Login::Authenticating;
            Handled::Now(Opcode::Authenticate, response::authenticate())
        }
        Request::AuthResponse(token) => match check_login(&token, service) {
            Ok(()) => {
                *login = Login::Ready;
                Handled::Now(Opcode::AuthSuccess, response::auth_success())
            }
            Err(message) => refuse(CqlError {
                kind: ErrorKind::BadCredentials,
                message: message.into(),
            }),
        },
        Request::Register => Handled::Now(Opcode::Ready, Vec::new()),
        Request::Batch => refuse(CqlError::invalid(
            "BATCH is not supported by the emulator; send the statements one by one",
        )),
        request => Handled::Later(Work {
            service: service.clone(),
            keyspace: keyspace.clone(),
            request,
        }),
    }
}

/// Checks a SASL PLAIN token (`authzid\0user\0password`) as Scylla does, in constant time.
fn check_login(token: &[u8], service: &Service) -> Result<(), &'static str> {
    let mut fields = token.rsplit(|b| *b == 0);
    let password = fields.next().unwrap_or_default();
    let Some(user) = fields.next().filter(|u| !u.is_empty()) else {
        return Err("Authentication ID must not be null");
    };
    if password.is_empty() {
        return Err("Password must not be null");
    }
    let user_ok = user.ct_eq(service.user.as_bytes());
    let password_ok = password.ct_eq(service.password.as_bytes());
    if bool::from(user_ok & password_ok) {
        Ok(())
    } else {
        Err("Username and/or password are incorrect")
    }
}

impl Work {
    /// Runs the statement and builds its answer.
    async fn run(self, stream: i16) -> Answer {
        match self.answer().await {
            Ok((opcode, body)) => (stream, opcode, body),
            Err(e) => (stream, Opcode::Error, response::error(&e)),
        }
    }

    async fn answer(self) -> Result<(Opcode, Vec<u8>), CqlError> {
        let Work {
            service,
            keyspace,
            request,
        } = self;
        let current = keyspace.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match request {
            Request::Prepare { text } => {
                let statements = service.statements.clone();
                let (ks, t) = (current.clone(), text.clone());
                let shape = blocking(move || statements.prepare(ks.as_deref(), &t)).await?;
                let id = statement_id(current.as_deref(), &text);
                let body = response::prepared(&id, &shape.markers, &shape.result);
                service.remember(
                    id,
                    Prepared {
                        keyspace: current,
                        text,
                        shape,
                    },
                );
                Ok((Opcode::Result, body))
            }
            Request::Query { text, params } => {
                execute(&service, &keyspace, current, text, params, false).await
            }
            Request::Execute { id, params } => {
                let Some(prepared) = service.prepared(&id) else {
                    return Err(CqlError {
                        message: format!("No prepared statement with ID {} found.", hex(&id)),
                        kind: ErrorKind::Unprepared(id),
                    });
                };
                let markers = prepared.shape.markers.len();
                if params.values.len() != markers {
                    return Err(CqlError::invalid(format!(
                        "There were {markers} markers(?) in CQL but {} bound variables",
                        params.values.len()
                    )));
                }
                let (ks, text) = (prepared.keyspace, prepared.text);
                execute(&service, &keyspace, ks, text, params, true).await
            }
            _ => Err(CqlError::server("request not runnable as a statement")),
        }
    }
}

/// Runs a `QUERY` or an `EXECUTE` (`prepared`: metadata may be skipped) and pages its rows; a
/// `USE` updates the connection's keyspace `current`.
async fn execute(
    service: &Service,
    current: &Mutex<Option<String>>,
    keyspace: Option<String>,
    text: String,
    params: QueryParams,
    prepared: bool,
) -> Result<(Opcode, Vec<u8>), CqlError> {
    (service.record)(format!("CQL {text}"));
    let statements = service.statements.clone();
    let (ks, t, values) = (keyspace, text.clone(), params.values);
    let outcome = blocking(move || statements.execute(ks.as_deref(), &t, &values)).await?;
    let body = match outcome {
        Outcome::Void => response::void(),
        Outcome::SetKeyspace(ks) => {
            let body = response::set_keyspace(&ks);
            *current.lock().unwrap_or_else(|p| p.into_inner()) = Some(ks);
            body
        }
        Outcome::SchemaChange(change) => response::schema_change(&change),
        Outcome::Rows(set) => {
            let width = set.columns.len();
            if let Some(bad) = set.rows.iter().find(|r| r.len() != width) {
                return Err(CqlError::server(format!(
                    "the emulator built a row of {} values for {width} columns",
                    bad.len()
                )));
            }
            let page = paging::page(
                &text,
                set.rows,
                params.page_size,
                params.paging_state.as_deref(),
            )?;
            response::rows(
                &set.columns,
                &page.rows,
                page.next.as_deref(),
                prepared && params.skip_metadata,
            )
        }
    };
    Ok((Opcode::Result, body))
}

/// Runs an engine call on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CqlError> + Send + 'static,
) -> Result<T, CqlError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(CqlError::server(format!("the statement failed: {e}"))))
}

/// A prepared statement's id: the MD5 of the keyspace it was prepared in and its text.
fn statement_id(keyspace: Option<&str>, text: &str) -> Vec<u8> {
    let mut h = Md5::new();
    h.update(keyspace.unwrap_or_default().as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    h.finalize().to_vec()
}

/// Bytes as lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
