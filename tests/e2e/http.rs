//! One small HTTP/1.1 server for the end-to-end tests' stand-ins of network services (the Go
//! module proxy, git over HTTP): it listens on an ephemeral port of 127.0.0.1, reads each
//! request (request line, headers, a `Content-Length` or chunked body), asks a handler for the
//! response and writes it. Connections are kept alive as HTTP/1.1 clients expect; every read
//! and write has a timeout, so a silent client cannot hold a test.
//!
//! Dropping the [`Server`] stops it: the listener is closed, open connections are shut down
//! and every thread is joined.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long one read or write may wait: also how long an idle keep-alive connection lives.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// What a [`Server`] serves: the response to each request. Called from one thread per
/// connection, so several at a time.
pub trait Handler: Send + Sync + 'static {
    fn answer(&self, request: &Request) -> Response;
}

/// A request as the client sent it, body read in full.
pub struct Request {
    /// `GET`, `HEAD`, `POST`, …
    pub method: String,
    /// The request target as sent, path and query:
    /// `/team/vault/info/refs?service=git-upload-pack`.
    pub target: String,
    /// `(name in lower case, value)`, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target split at the first `?`: (path, query); the query is empty when there is none.
    pub fn path_and_query(&self) -> (&str, &str) {
        self.target.split_once('?').unwrap_or((&self.target, ""))
    }
}

/// A response; the server adds `Content-Length` (and `Connection: close` when it closes).
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// A `text/plain` response, for answers that only a person reads (errors, refusals).
    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status, text.as_bytes().to_vec())
            .with_header("Content-Type", "text/plain; charset=utf-8")
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// An HTTP/1.1 server on `127.0.0.1:<ephemeral port>`; stops when dropped.
pub struct Server {
    port: u16,
    stopping: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds the port and serves with `handler`; `name` names the threads.
    pub fn start(name: &str, handler: Arc<impl Handler>) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let stopping = Arc::new(AtomicBool::new(false));
        let accept_thread = thread::Builder::new()
            .name(format!("{name}-{port}"))
            .spawn({
                let stopping = Arc::clone(&stopping);
                move || accept_loop(listener, &stopping, handler.as_ref())
            })?;
        Ok(Server {
            port,
            stopping,
            accept_thread: Some(accept_thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept(); the accept thread sees the flag and returns.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until the server stops, one scoped thread each (Go fetches modules in
/// parallel); then shuts down the connections still open and, leaving the scope, joins their
/// threads. The listener is closed when this returns.
fn accept_loop(listener: TcpListener, stopping: &AtomicBool, handler: &dyn Handler) {
    // A handle on each open connection, to wake a thread that waits for an idle client.
    let open: Mutex<BTreeMap<u64, TcpStream>> = Mutex::new(BTreeMap::new());
    let open_connections = || open.lock().unwrap_or_else(PoisonError::into_inner);
    thread::scope(|scope| {
        for (id, conn) in (0u64..).zip(listener.incoming()) {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = conn else { continue };
            let Ok(handle) = stream.try_clone() else {
                continue;
            };
            open_connections().insert(id, handle);
            scope.spawn(move || {
                let _ = serve_connection(stream, handler, stopping);
                open_connections().remove(&id);
            });
        }
        for stream in open_connections().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    });
}

/// Answers the requests of one connection in turn until the client closes it or asks to,
/// sends something unreadable, stays silent past [`IO_TIMEOUT`], or the server stops.
fn serve_connection(
    stream: TcpStream,
    handler: &dyn Handler,
    stopping: &AtomicBool,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader, &mut writer)? {
        let response = handler.answer(&request);
        let close = stopping.load(Ordering::SeqCst)
            || request
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        write_response(&mut writer, &request, &response, close)?;
        if close {
            break;
        }
    }
    Ok(())
}

/// The next request of the connection; `None` when the client closed it between requests.
/// Answers `Expect: 100-continue` (git sends it before a large POST) before reading the body.
fn read_request(reader: &mut impl BufRead, writer: &mut impl Write) -> io::Result<Option<Request>> {
    let mut request_line = String::new();
    // Clients may send a stray CRLF between requests (RFC 9112, 2.2).
    while request_line.trim().is_empty() {
        request_line.clear();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(None);
        }
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    request.body = if request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        read_chunked(reader)?
    } else {
        let length = match request.header("content-length") {
            None => 0,
            Some(v) => v
                .parse()
                .map_err(|e| invalid(format!("Content-Length {v:?}: {e}")))?,
        };
        read_exactly(reader, length)?
    };
    Ok(Some(request))
}

/// A `chunked` body: `<hex size>[;ext]` CRLF, the bytes, CRLF, …, a zero size, the trailers
/// (ignored) up to a blank line.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|e| invalid(format!("chunk size {size:?}: {e}")))?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        body.extend(read_exactly(reader, size)?);
        if !read_line(reader)?.is_empty() {
            return Err(invalid("no CRLF after a chunk".to_string()));
        }
    }
}

/// Exactly `length` bytes (`take` so that a lying length does not allocate them up front).
fn read_exactly(reader: &mut impl BufRead, length: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(length).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
}

/// One line without its line ending; the connection ending mid-request is an error.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The response with `Content-Length`; without the body for `HEAD`.
fn write_response(
    writer: &mut impl Write,
    request: &Request,
    response: &Response,
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        writer.write_all(&response.body)?;
    }
    writer.flush()
}

/// The reason phrases of the statuses the tests' servers send (clients read only the code).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers each request with its method, target and body.
    struct Echo;

    impl Handler for Echo {
        fn answer(&self, request: &Request) -> Response {
            let mut body = format!("{} {} ", request.method, request.target).into_bytes();
            body.extend(&request.body);
            Response::text(200, &String::from_utf8_lossy(&body))
        }
    }

    fn echo_server() -> Server {
        Server::start("echo", Arc::new(Echo)).expect("start the echo server")
    }

    /// Sends `raw` on a new connection, closes its sending half, returns all the server wrote.
    fn exchange(port: u16, raw: &str) -> String {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        conn.write_all(raw.as_bytes()).expect("send");
        conn.shutdown(Shutdown::Write).expect("half-close");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("read the answer");
        answer
    }

    #[test]
    fn reads_length_and_chunked_bodies_on_one_connection() {
        let server = echo_server();
        let answer = exchange(
            server.port(),
            "POST /a?x=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
             \r\n\
             POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
             3;ext=1\r\nchu\r\n4\r\nnked\r\n0\r\nTrailer: x\r\n\r\n\
             HEAD /c HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let text = "Content-Type: text/plain; charset=utf-8\r\n";
        assert_eq!(
            answer,
            format!(
                "HTTP/1.1 200 OK\r\n{text}Content-Length: 17\r\n\r\nPOST /a?x=1 hello\
                 HTTP/1.1 100 Continue\r\n\r\n\
                 HTTP/1.1 200 OK\r\n{text}Content-Length: 15\r\n\r\nPOST /b chunked\
                 HTTP/1.1 200 OK\r\n{text}Content-Length: 8\r\nConnection: close\r\n\r\n"
            )
        );
    }

    #[test]
    fn a_bad_body_closes_the_connection_and_drop_stops_the_server() {
        let server = echo_server();
        let port = server.port();
        let answer = exchange(
            port,
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        );
        assert_eq!(answer, "", "nothing is answered to an unreadable request");
        // An idle keep-alive connection does not keep the server alive.
        let idle = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        drop(server);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens on {port} after the drop"
        );
        let mut rest = Vec::new();
        let read = (&idle).read_to_end(&mut rest);
        assert!(
            matches!(read, Ok(0)) || read.is_err(),
            "the idle connection is closed"
        );
    }
}
