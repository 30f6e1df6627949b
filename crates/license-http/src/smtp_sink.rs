//! A real SMTP server for tests and benchmarks (feature `testkit`): it speaks enough ESMTP for
//! lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH), keeps every message it
//! accepts, and can be stopped and started again on the same port to play an outage. Messages
//! are decoded the way a mail reader would: the subject's encoded words, and the text and HTML
//! parts in quoted-printable or base64.
#![expect(
    clippy::expect_used,
    reason = "test helper: a sink that cannot bind fails the test"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`, each.
    pub to: Vec<String>,
    /// The message as sent (headers and body, dots unstuffed).
    pub data: String,
}

#[derive(Debug, Default)]
struct Inbox {
    messages: Mutex<Vec<Received>>,
    arrived: Condvar,
}

/// The running server.
#[derive(Debug)]
pub struct SmtpSink {
    port: u16,
    inbox: Arc<Inbox>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> Self {
        Self::serve(
            TcpListener::bind("127.0.0.1:0").expect("bind"),
            Arc::default(),
        )
    }

    /// Starts on `port` (again, after [`SmtpSink::stop`]), keeping `earlier`'s messages.
    pub fn restart(port: u16, earlier: Vec<Received>) -> Self {
        let listener = (0..50)
            .find_map(|_| {
                TcpListener::bind(("127.0.0.1", port))
                    .map_err(|_| std::thread::sleep(Duration::from_millis(100)))
                    .ok()
            })
            .expect("bind the same port again");
        let inbox = Arc::new(Inbox {
            messages: Mutex::new(earlier),
            arrived: Condvar::new(),
        });
        Self::serve(listener, inbox)
    }

    fn serve(listener: TcpListener, inbox: Arc<Inbox>) -> Self {
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (inbox2, stop2) = (inbox.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (inbox, stop) = (inbox2.clone(), stop2.clone());
                        std::thread::spawn(move || {
                            let _ = session(stream, &inbox, &stop);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            port,
            inbox,
            stop,
            thread: Some(thread),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `KEYSMITH_SMTP_URL` for it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<Received> {
        self.inbox
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until at least `n` messages arrived (or `timeout` passed); returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut messages = self
            .inbox
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while messages.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            messages = self
                .inbox
                .arrived
                .wait_timeout(messages, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        messages.clone()
    }

    /// Stops at once (a relay that is down) and gives its port, to [`SmtpSink::restart`] on.
    pub fn stop_and_port(mut self) -> u16 {
        self.halt();
        self.port
    }

    /// Stops listening and drops every open connection; returns what it received.
    pub fn stop(mut self) -> Vec<Received> {
        self.halt();
        self.messages()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.halt();
    }
}

fn session(stream: TcpStream, inbox: &Inbox, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    // Answers are small writes: without this, Nagle's algorithm and the client's delayed ACKs
    // add tens of milliseconds to every command, as no real relay does.
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    out.write_all(b"220 sink ESMTP\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> std::io::Result<bool> {
        line.clear();
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(false);
            }
            match input.read_line(line) {
                Ok(0) => return Ok(false),
                Ok(_) if line.ends_with('\n') => return Ok(true),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    };
    while read_line(&mut line)? {
        let cmd = line.trim_end().to_owned();
        let verb = cmd.get(..4).unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?,
            "HELO" => out.write_all(b"250 sink\r\n")?,
            "MAIL" => {
                from = address(&cmd);
                to.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                to.push(address(&cmd));
                out.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 go on\r\n")?;
                let mut data = String::new();
                loop {
                    if !read_line(&mut line)? {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let mut messages = inbox
                    .messages
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                messages.push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                inbox.arrived.notify_all();
                drop(messages);
                out.write_all(b"250 queued\r\n")?;
            }
            "RSET" => {
                from.clear();
                to.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "NOOP" => out.write_all(b"250 OK\r\n")?,
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 not here\r\n")?,
        }
    }
    Ok(())
}

fn address(cmd: &str) -> String {
    let start = cmd.find('<').map_or(0, |i| i + 1);
    let end = cmd.rfind('>').unwrap_or(cmd.len());
    cmd.get(start..end).unwrap_or_default().to_owned()
}

impl Received {
    /// A header's value (unfolded), the first of that name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = &mut value {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_owned());
            }
        }
        value
    }

    /// The subject, its encoded words decoded.
    pub fn subject(&self) -> String {
        let raw = self.header("Subject").unwrap_or_default();
        let mut out = String::new();
        for word in raw.split_whitespace() {
            let decoded = word
                .strip_prefix("=?utf-8?b?")
                .or_else(|| word.strip_prefix("=?UTF-8?B?"))
                .and_then(|w| w.strip_suffix("?="))
                .and_then(|b| String::from_utf8(base64(b)).ok());
            match decoded {
                Some(d) => out.push_str(&d),
                None => {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(word);
                }
            }
        }
        out
    }

    /// The decoded `text/plain` part.
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    /// The decoded `text/html` part.
    pub fn html(&self) -> String {
        self.part("text/html")
    }

    fn part(&self, mime: &str) -> String {
        for chunk in self.data.split("\r\n--") {
            let Some((head, body)) = chunk.split_once("\r\n\r\n") else {
                continue;
            };
            if !head
                .to_ascii_lowercase()
                .contains(&format!("content-type: {mime}"))
            {
                continue;
            }
            let head = head.to_ascii_lowercase();
            let bytes = if head.contains("content-transfer-encoding: base64") {
                base64(&body.replace("\r\n", ""))
            } else if head.contains("content-transfer-encoding: quoted-printable") {
                quoted_printable(body)
            } else {
                body.as_bytes().to_vec()
            };
            return String::from_utf8_lossy(&bytes).trim_end().to_owned();
        }
        String::new()
    }
}

fn base64(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}
