//! Half-open requests against a running api, on loopback: rounds of sockets that each send
//! the start of a request and part of a header, hold, then close. Prints the api's resident
//! memory (from `/proc/<pid>/status`) at rest, with each round open, and after the flood.
//!
//! `cargo run --release -p api --example header_flood -- ADDR PID [SOCKETS] [AT_ONCE] [HEADER_BYTES]`
//! (defaults: 19,000 sockets, 1,900 at a time, 64 KiB of header each).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, pid, ..] = args.as_slice() else {
        eprintln!("usage: header_flood ADDR PID [SOCKETS] [AT_ONCE] [HEADER_BYTES]");
        std::process::exit(2);
    };
    let number = |i: usize, default: usize| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let (sockets, at_once, header_bytes) = (number(2, 19_000), number(3, 1_900), number(4, 65_536));

    println!("idle             {}", rss(pid));
    let mut peak = 0;
    let mut refused = 0;
    for round in 0..sockets.div_ceil(at_once) {
        let count = at_once.min(sockets - round * at_once);
        let mut open = Vec::with_capacity(count);
        for _ in 0..count {
            let Ok(stream) = TcpStream::connect(addr.as_str()).await else {
                refused += 1;
                continue;
            };
            open.push(tokio::spawn(half_request(stream, header_bytes)));
        }
        let mut held = Vec::with_capacity(count);
        for task in open {
            match task.await.expect("a sender") {
                Some(stream) => held.push(stream),
                None => refused += 1,
            }
        }
        // Give the server time to read what was sent before looking.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib(pid);
        peak = peak.max(now);
        println!("round {round:>3} open {:>5}  {}", held.len(), mib(now));
        drop(held);
    }
    println!("peak             {}", mib(peak));
    println!("closed by the server or refused: {refused}");
    for wait in [1, 5, 15] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        println!("after +{wait:>2}s       {}", rss(pid));
    }
}

/// Sends a request line and `header_bytes` of one header that never ends; `None` when the
/// server closed the connection meanwhile.
async fn half_request(mut stream: TcpStream, header_bytes: usize) -> Option<TcpStream> {
    let mut head = b"GET /health HTTP/1.1\r\nhost: flood\r\nx-filler: ".to_vec();
    head.resize(head.len() + header_bytes, b'a');
    for chunk in head.chunks(16 * 1024) {
        stream.write_all(chunk).await.ok()?;
    }
    let mut byte = [0; 1];
    match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut byte)).await {
        // Still open and silent: held.
        Err(_) => Some(stream),
        // Answered (431) or closed.
        Ok(_) => None,
    }
}

fn rss(pid: &str) -> String {
    mib(rss_kib(pid))
}

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the api's pid");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn mib(kib: u64) -> String {
    format!("{:>7.1} MiB", kib as f64 / 1024.0)
}
