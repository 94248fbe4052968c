//! One node's CQL listener: the accept loop, one task per connection, each given the node's
//! [`Service`]. Stopping the listener (the task is aborted) closes the listening socket and every open
//! connection at once, as a node going down does.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::connection;
use super::service::Service;

/// Accepts connections until the task running it is aborted; aborting drops every connection.
pub async fn serve(listener: TcpListener, service: Arc<Service>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let _ = socket.set_nodelay(true);
                    connections.spawn(connection::serve(socket, service.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "CQL listener could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use scylla::client::session::Session;
    use scylla::client::session_builder::SessionBuilder;
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use uuid::Uuid;

    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use crate::emulator::cql::outcome::{
        Column, CqlError, ErrorKind, Outcome, ResultSet, Shape, Statements,
    };
    use crate::emulator::cql::value::{CqlType, Value};

    /// Answers the driver's topology queries and a few test statements.
    struct Fake;

    fn col(table: &str, name: &str, ty: CqlType) -> Column {
        let (keyspace, table) = table.split_once('.').unwrap();
        Column {
            keyspace: keyspace.into(),
            table: table.into(),
            name: name.into(),
            ty,
        }
    }

    /// The columns of `system.local`/`system.peers` with the types Scylla gives them, and the
    /// one local row's values.
    fn node_column(table: &str, name: &str) -> Option<(Column, Value)> {
        let (ty, value) = match name {
            "host_id" | "schema_version" => (CqlType::Uuid, Value::Uuid(Uuid::from_u128(7))),
            "rpc_address" => (CqlType::Inet, Value::Inet(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            "data_center" => (CqlType::Text, Value::text("dc1")),
            "rack" => (CqlType::Text, Value::text("rack1")),
            "cluster_name" => (CqlType::Text, Value::text("test")),
            "tokens" => (
                CqlType::Set(Box::new(CqlType::Text)),
                Value::Set(vec![Value::text("0")]),
            ),
            _ => return None,
        };
        Some((col(table, name, ty), value))
    }

    fn echo() -> Column {
        col("ks.echo", "v", CqlType::Text)
    }

    impl Statements for Fake {
        fn prepare(&self, _keyspace: Option<&str>, text: &str) -> Result<Shape, CqlError> {
            if text == "SELECT v FROM ks.echo WHERE v = ?" {
                Ok(Shape {
                    markers: vec![echo()],
                    result: vec![echo()],
                })
            } else {
                Err(CqlError::syntax(format!("cannot prepare {text}")))
            }
        }

        fn execute(
            &self,
            keyspace: Option<&str>,
            text: &str,
            values: &[Option<Vec<u8>>],
        ) -> Result<Outcome, CqlError> {
            if let Some(rest) = text.strip_prefix("SELECT ")
                && let Some((cols, from)) = rest.split_once(" FROM ")
                && (from.starts_with("system.local") || from.starts_with("system.peers"))
            {
                let table = &from[..12];
                let picked: Vec<(Column, Value)> = cols
                    .split(", ")
                    .map(|c| {
                        node_column(table, c)
                            .ok_or_else(|| CqlError::invalid(format!("Undefined name {c}")))
                    })
                    .collect::<Result<_, _>>()?;
                let rows = if table == "system.local" {
                    vec![picked.iter().map(|(_, v)| v.clone()).collect()]
                } else {
                    Vec::new()
                };
                return Ok(Outcome::Rows(ResultSet {
                    columns: picked.into_iter().map(|(c, _)| c).collect(),
                    rows,
                }));
            }
            match text {
                "SELECT n FROM ks.numbers" => Ok(Outcome::Rows(ResultSet {
                    columns: vec![col("ks.numbers", "n", CqlType::Int)],
                    rows: (0..25).map(|i| vec![Value::Int(i)]).collect(),
                })),
                "SELECT v FROM ks.echo WHERE v = ?" => {
                    let v = Value::decode(&CqlType::Text, values[0].as_deref())
                        .map_err(|e| CqlError::invalid(e.to_string()))?;
                    Ok(Outcome::Rows(ResultSet {
                        columns: vec![echo()],
                        rows: vec![vec![v]],
                    }))
                }
                "USE ks" => Ok(Outcome::SetKeyspace("ks".into())),
                "SELECT keyspace" => Ok(Outcome::Rows(ResultSet {
                    columns: vec![col("ks.k", "k", CqlType::Text)],
                    rows: vec![vec![Value::text(keyspace.unwrap_or("none"))]],
                })),
                "CREATE TABLE ks.t (a int PRIMARY KEY)" => Err(CqlError {
                    kind: ErrorKind::AlreadyExists {
                        keyspace: "ks".into(),
                        table: "t".into(),
                    },
                    message: "Cannot add already existing table \"t\" to keyspace \"ks\"".into(),
                }),
                _ => Err(CqlError::syntax(format!(
                    "line 1:0 no viable alternative at input '{text}'"
                ))),
            }
        }
    }

    /// Starts a listener with the fake; returns its address, the recorded statements, the
    /// node's service and the listener's task.
    async fn start() -> (
        SocketAddr,
        Arc<Mutex<Vec<String>>>,
        Arc<Service>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let record = Arc::new(Mutex::new(Vec::new()));
        let log = record.clone();
        let service = Service::new(
            Arc::new(Fake),
            "cassandra",
            "secret",
            Box::new(move |what| log.lock().unwrap().push(what)),
        );
        let service = Arc::new(service);
        let task = tokio::spawn(serve(listener, service.clone()));
        (addr, record, service, task)
    }

    async fn session(addr: SocketAddr, password: &str) -> Result<Session, String> {
        SessionBuilder::new()
            .known_node_addr(addr)
            .user("cassandra", password)
            .fetch_schema_metadata(false)
            .build()
            .await
            .map_err(|e| e.to_string())
    }

    fn db_error(e: ExecutionError) -> (DbError, String) {
        match e {
            ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, msg)) => (db, msg),
            other => panic!("not a server error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_driver_logs_in_queries_prepares_and_pages() {
        let (addr, record, service, task) = start().await;
        let session = session(addr, "secret").await.unwrap();

        let prepared = session
            .prepare("SELECT v FROM ks.echo WHERE v = ?")
            .await
            .unwrap();
        let rows = session
            .execute_unpaged(&prepared, ("hello",))
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let got: Vec<(String,)> = rows
            .rows::<(String,)>()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, vec![("hello".to_string(),)]);

        // The node forgets its prepared statements (as on a restart): the driver gets
        // Unprepared, prepares again and the statement still runs.
        service.prepared.lock().unwrap().clear();
        let rows = session
            .execute_unpaged(&prepared, ("again",))
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let (again,): (String,) = rows.single_row().unwrap();
        assert_eq!(again, "again");
        assert_eq!(service.prepared.lock().unwrap().len(), 1);

        let mut statement = scylla::statement::Statement::new("SELECT n FROM ks.numbers");
        statement.set_page_size(10);
        let pager = session.query_iter(statement, ()).await.unwrap();
        use futures::TryStreamExt;
        let numbers: Vec<(i32,)> = pager
            .rows_stream::<(i32,)>()
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(numbers, (0..25).map(|i| (i,)).collect::<Vec<_>>());

        let calls = record.lock().unwrap().clone();
        assert!(calls.contains(&"CQL SELECT v FROM ks.echo WHERE v = ?".to_string()));
        let pages = calls
            .iter()
            .filter(|c| *c == "CQL SELECT n FROM ks.numbers")
            .count();
        assert_eq!(pages, 3, "25 rows in pages of 10: {calls:?}");
        task.abort();
    }

    #[tokio::test]
    async fn engine_errors_reach_the_driver_with_their_kind_and_use_sets_the_keyspace() {
        let (addr, _, _, task) = start().await;
        let session = session(addr, "secret").await.unwrap();
        let (db, msg) = db_error(
            session
                .query_unpaged("CREATE TABLE ks.t (a int PRIMARY KEY)", ())
                .await
                .unwrap_err(),
        );
        assert_eq!(
            db,
            DbError::AlreadyExists {
                keyspace: "ks".into(),
                table: "t".into()
            }
        );
        assert!(msg.contains("already existing table"), "{msg}");
        let (db, msg) = db_error(session.query_unpaged("NONSENSE", ()).await.unwrap_err());
        assert_eq!(db, DbError::SyntaxError);
        assert!(msg.contains("no viable alternative"), "{msg}");

        session.use_keyspace("ks", false).await.unwrap();
        let rows = session
            .query_unpaged("SELECT keyspace", ())
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let (ks,): (String,) = rows.single_row().unwrap();
        assert_eq!(ks, "ks");
        task.abort();
    }

    #[tokio::test]
    async fn a_wrong_password_is_refused_as_scylla_refuses_it() {
        let (addr, _, _, task) = start().await;
        let err = session(addr, "wrong").await.unwrap_err();
        assert!(
            err.contains("Username and/or password are incorrect"),
            "{err}"
        );
        task.abort();
    }

    /// Sends raw bytes and reads one response frame: (version byte, stream, opcode, body).
    async fn raw(addr: SocketAddr, bytes: &[u8]) -> (u8, i16, u8, Vec<u8>) {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(bytes).await.unwrap();
        let mut header = [0u8; 9];
        socket.read_exact(&mut header).await.unwrap();
        let len = u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len];
        socket.read_exact(&mut body).await.unwrap();
        (
            header[0],
            i16::from_be_bytes([header[2], header[3]]),
            header[4],
            body,
        )
    }

    fn error_of(body: &[u8]) -> (i32, String) {
        let code = i32::from_be_bytes(body[..4].try_into().unwrap());
        let n = u16::from_be_bytes([body[4], body[5]]) as usize;
        (code, String::from_utf8(body[6..6 + n].to_vec()).unwrap())
    }

    #[tokio::test]
    async fn another_version_or_garbage_gets_a_protocol_error_a_driver_downgrades_on() {
        let (addr, _, _, task) = start().await;
        // OPTIONS in protocol v5, as cqlsh first tries.
        let (version, _, opcode, body) = raw(addr, &[5, 0, 0, 0, 5, 0, 0, 0, 0]).await;
        assert_eq!((version, opcode), (0x84, 0));
        assert_eq!(
            error_of(&body),
            (0x000A, "Invalid or unsupported protocol version: 5".into())
        );

        let (_, _, _, body) = raw(addr, b"GET / HTTP/1.1\r\n\r\n").await;
        assert_eq!(error_of(&body).0, 0x000A);

        // A v4 QUERY before STARTUP is refused on its stream; OPTIONS is answered.
        let early = [4, 0, 0, 3, 7, 0, 0, 0, 0];
        let (_, stream, _, body) = raw(addr, &early).await;
        assert_eq!(stream, 3);
        assert_eq!(
            error_of(&body),
            (
                0x000A,
                "Unexpected message 7, expecting STARTUP or OPTIONS".into()
            )
        );
        let (_, _, opcode, body) = raw(addr, &[4, 0, 0, 1, 5, 0, 0, 0, 0]).await;
        assert_eq!(opcode, 6, "OPTIONS answered SUPPORTED");
        assert!(String::from_utf8_lossy(&body).contains("3.3.1"));
        task.abort();
    }

    /// A connection driven frame by frame.
    struct Raw(tokio::net::TcpStream);

    impl Raw {
        async fn send(&mut self, stream: i16, opcode: u8, body: &[u8]) {
            let mut frame = vec![4, 0];
            frame.extend_from_slice(&stream.to_be_bytes());
            frame.push(opcode);
            frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
            frame.extend_from_slice(body);
            self.0.write_all(&frame).await.unwrap();
        }

        async fn recv(&mut self) -> (i16, u8, Vec<u8>) {
            let mut header = [0u8; 9];
            self.0.read_exact(&mut header).await.unwrap();
            let len = u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize;
            let mut body = vec![0u8; len];
            self.0.read_exact(&mut body).await.unwrap();
            (i16::from_be_bytes([header[2], header[3]]), header[4], body)
        }

        async fn login(addr: SocketAddr) -> Raw {
            let mut raw = Raw(tokio::net::TcpStream::connect(addr).await.unwrap());
            raw.send(0, 0x01, &[0, 0]).await;
            assert_eq!(raw.recv().await.1, 0x03, "AUTHENTICATE");
            let token = b"\0cassandra\0secret";
            let body = [&(token.len() as i32).to_be_bytes()[..], token].concat();
            raw.send(0, 0x0F, &body).await;
            assert_eq!(raw.recv().await.1, 0x10, "AUTH_SUCCESS");
            raw
        }
    }

    fn query(text: &str) -> Vec<u8> {
        [
            &(text.len() as i32).to_be_bytes()[..],
            text.as_bytes(),
            &[0, 1, 0],
        ]
        .concat()
    }

    #[tokio::test]
    async fn pipelined_requests_are_each_answered_on_their_stream() {
        let (addr, _, _, task) = start().await;
        let mut raw = Raw::login(addr).await;
        raw.send(5, 0x07, &query("SELECT n FROM ks.numbers")).await;
        raw.send(6, 0x07, &query("NONSENSE")).await;
        let unknown_id = [16u8; 16];
        let execute = [&[0, 16][..], &unknown_id, &[0, 1, 0]].concat();
        raw.send(7, 0x0A, &execute).await;
        raw.send(8, 0x0D, &[0; 8]).await;
        let mut answers = HashMap::new();
        for _ in 0..4 {
            let (stream, opcode, body) = raw.recv().await;
            answers.insert(stream, (opcode, body));
        }
        assert_eq!(answers[&5].0, 0x08, "RESULT");
        assert_eq!(&answers[&5].1[..4], &2i32.to_be_bytes(), "Rows");
        assert_eq!(error_of(&answers[&6].1).0, 0x2000);
        let (code, message) = error_of(&answers[&7].1);
        assert_eq!(code, 0x2500);
        assert_eq!(
            message,
            format!("No prepared statement with ID {} found.", "10".repeat(16))
        );
        assert!(
            answers[&7]
                .1
                .ends_with(&[&[0, 16][..], &unknown_id].concat()),
            "the id follows"
        );
        let (code, message) = error_of(&answers[&8].1);
        assert_eq!(code, 0x2200);
        assert!(message.contains("BATCH is not supported"), "{message}");

        // The connection goes on after errors.
        raw.send(9, 0x07, &query("USE ks")).await;
        let (stream, opcode, body) = raw.recv().await;
        assert_eq!((stream, opcode), (9, 0x08));
        assert_eq!(body, [&3i32.to_be_bytes()[..], &[0, 2], b"ks"].concat());
        task.abort();
    }
}
