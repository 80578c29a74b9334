//! Every limit that protects the server from a hostile or broken client: each holds,
//! stores nothing, and leaves the server answering everyone else.

use std::time::{Duration, Instant};

use cargohold_test_support::{CrateFixture, TarEntry, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `within` passes) and returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

/// Sends a publish of `name` whose body stops halfway, and returns the connection.
async fn send_half_a_publish(server: &TestServer, name: &str) -> TcpStream {
    let body = CrateFixture::new(name, "1.0.0").publish_body();
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    let head = format!(
        "PUT /registries/main/api/v1/crates/new HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Length: {}\r\n\r\n",
        server.admin_token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    stream
}

/// A whole request for config.json, keeping the connection alive.
const CONFIG_JSON: &[u8] = b"GET /registries/main/index/config.json HTTP/1.1\r\nHost: x\r\n\r\n";

/// A new raw connection to `server` that has sent `bytes`.
async fn connect_and_send(server: &TestServer, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

fn status_of(response: &str) -> Option<u16> {
    response.split_whitespace().nth(1)?.parse().ok()
}

/// The server still answers a plain request from another client, promptly. A new
/// client each time: a kept-alive connection could meet the short idle timeouts
/// these tests set just as the server closes it.
async fn assert_others_are_served(server: &TestServer) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(server.url("registries/main/index/config.json"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "config.json took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let server = TestServer::start_with(|config| config.limits.header_read_timeout_secs = 1).await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        let head = b"GET /registries/main/index/config.json HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        slow.push(connect_and_send(&server, head).await);
    }
    assert_others_are_served(&server).await;

    let started = Instant::now();
    for stream in &mut slow {
        let answer = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(
            answer.is_some(),
            "a connection with an unfinished request head is still open after {:?}",
            started.elapsed()
        );
        assert!(!answer.unwrap().contains("200 OK"));
    }
    assert_others_are_served(&server).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let server = TestServer::start_with(|config| config.limits.header_read_timeout_secs = 1).await;
    let mut stream = connect_and_send(&server, CONFIG_JSON).await;
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // The answer was kept alive; with nothing more sent, the server closes it.
    let started = Instant::now();
    assert!(
        read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .is_some(),
        "an idle connection is still open after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn a_publish_whose_body_stalls_gets_408_and_stores_nothing() {
    let server = TestServer::start_with(|config| config.limits.body_read_timeout_secs = 1).await;
    let before = server.stored_state().await;
    let mut stream = send_half_a_publish(&server, "stalled").await;
    assert_others_are_served(&server).await;

    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("the server answers a stalled body within its timeout");
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    assert!(answer.contains("stopped arriving"), "{answer}");
    assert_eq!(server.stored_state().await, before);
    assert_others_are_served(&server).await;
}

#[tokio::test]
async fn a_request_in_flight_is_not_cut_off_by_the_header_timeout() {
    // The head deadline is for idle connections: a body still arriving (here: stalled,
    // until its own, longer deadline) keeps its connection, and gets its 408.
    let server = TestServer::start_with(|config| {
        config.limits.header_read_timeout_secs = 1;
        config.limits.body_read_timeout_secs = 3;
    })
    .await;
    let before = server.stored_state().await;
    let mut stream = send_half_a_publish(&server, "slowbody").await;

    let started = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(8))
        .await
        .expect("the server answers a stalled body within its timeout");
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "answered after {:?}, before the body timeout",
        started.elapsed()
    );
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn connections_past_the_cap_get_503_and_the_server_recovers() {
    let server = TestServer::start_with(|config| config.limits.max_connections = 4).await;
    // Four kept-alive connections, each known to be accepted: it was answered.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_and_send(&server, CONFIG_JSON).await;
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(stream);
    }

    // A fifth client is told why it is turned away, at once.
    let response = reqwest::Client::new()
        .get(server.url("registries/main/index/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("too many open connections")
    );

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = reqwest::Client::new()
            .get(server.url("registries/main/index/config.json"))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after the held connections closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_overlong_request_line_or_too_many_headers_get_4xx() {
    let server = TestServer::start().await;
    let long_path = format!("/registries/main/index/{}", "a".repeat(1024 * 1024));
    let mut requests = vec![format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n")];
    let many_headers: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    requests.push(format!(
        "GET /registries/main/index/config.json HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"
    ));
    let huge_header = format!("X-Big: {}\r\n", "b".repeat(1024 * 1024));
    requests.push(format!(
        "GET /registries/main/index/config.json HTTP/1.1\r\nHost: x\r\n{huge_header}\r\n"
    ));
    for request in requests {
        let mut stream = TcpStream::connect(server.address()).await.unwrap();
        // The server may close before it has read everything; that is an answer too.
        let _ = stream.write_all(request.as_bytes()).await;
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        if let Some(status) = status_of(&answer) {
            assert!(
                (400..500).contains(&status),
                "{}",
                &answer[..answer.len().min(200)]
            );
        }
        assert_others_are_served(&server).await;
    }
}

#[tokio::test]
async fn json_bodies_too_deep_or_too_large_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("guarded", "1.0.0");
    assert_eq!(server.publish(&fixture).await.status(), 200);
    let before = server.stored_state().await;
    let owners = "registries/main/api/v1/crates/guarded/owners";

    let deep = format!(
        "{{\"users\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let large = format!(
        "{{\"users\":[{}\"x\"]}}",
        "\"padding-padding-padding\",".repeat(200_000)
    );
    for (what, body, expected) in [("deep", deep, 400), ("large", large, 413)] {
        let response = server
            .authed(reqwest::Method::PUT, owners, &server.admin_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(status, expected, "{what} JSON");
        let detail = response.text().await.unwrap();
        assert!(detail.contains("\"errors\""), "{what} JSON: {detail}");
    }
    assert_eq!(server.stored_state().await, before);
    assert_eq!(server.owner_logins("guarded").await, ["admin"]);
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_and_stores_nothing() {
    let server =
        TestServer::start_with(|config| config.limits.max_unpacked_size = 1024 * 1024).await;
    let before = server.stored_state().await;
    let mut bomb = CrateFixture::new("bomb", "1.0.0");
    // 64 MiB of zeros squeeze into about 64 KiB of gzip.
    bomb.extra_entries.push(TarEntry::file(
        "bomb-1.0.0/zeros.bin",
        vec![0u8; 64 * 1024 * 1024],
    ));
    let body = bomb.publish_body();
    assert!(body.len() < 1024 * 1024, "{}", body.len());

    let started = Instant::now();
    let response = server.publish_body(body, &server.admin_token).await;
    assert_eq!(response.status(), 400);
    let detail = response.text().await.unwrap();
    assert!(
        detail.contains("unpack") || detail.contains("decompress"),
        "{detail}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refusing took {:?}",
        started.elapsed()
    );
    assert_eq!(server.stored_state().await, before);
    assert_others_are_served(&server).await;
}

#[tokio::test]
async fn a_crate_with_too_many_entries_is_refused_and_stores_nothing() {
    let server = TestServer::start_with(|config| config.limits.max_tarball_entries = 50).await;
    let before = server.stored_state().await;
    let mut crowded = CrateFixture::new("crowded", "1.0.0");
    for i in 0..100 {
        crowded
            .extra_entries
            .push(TarEntry::file(format!("crowded-1.0.0/src/m{i}.rs"), "\n"));
    }
    let response = server.publish(&crowded).await;
    assert_eq!(response.status(), 400);
    let detail = response.text().await.unwrap();
    assert!(detail.contains("entries"), "{detail}");
    assert_eq!(server.stored_state().await, before);
}

/// Publishes `name` 1.0.0 with `size` bytes that gzip cannot shrink, and returns
/// the size of its `.crate`.
async fn publish_incompressible(server: &TestServer, name: &str, size: usize) -> usize {
    let mut noise = vec![0u8; size];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let mut large = CrateFixture::new(name, "1.0.0");
    large
        .extra_entries
        .push(TarEntry::file(format!("{name}-1.0.0/noise.bin"), noise));
    let size = large.tarball().len();
    assert_eq!(server.publish(&large).await.status(), 200);
    size
}

/// Asks for `name`'s `.crate` on a socket whose receive buffer is `buffer` bytes;
/// the server closes the connection after the answer.
async fn ask_for_crate(server: &TestServer, name: &str, buffer: u32) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(buffer).unwrap();
    let mut stream = socket.connect(server.address()).await.unwrap();
    let request = format!(
        "GET /registries/main/crates/{name}/{name}-1.0.0.crate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Reads `stream` in chunks of at most `chunk` bytes with `pause` after each, until
/// the server closes it, `bytes` have arrived or `within` passes; returns what arrived
/// and whether the connection was closed.
async fn read_paced(
    stream: &mut TcpStream,
    chunk: usize,
    pause: Duration,
    bytes: usize,
    within: Duration,
) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let mut buffer = vec![0u8; chunk];
    let deadline = Instant::now() + within;
    while received.len() < bytes && Instant::now() < deadline {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return (received, true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
        tokio::time::sleep(pause).await;
    }
    (received, false)
}

#[tokio::test]
async fn a_client_that_stops_reading_a_download_loses_its_connection() {
    let server = TestServer::start_with(|config| config.limits.write_timeout_secs = 1).await;
    // 8 MiB: more than the kernel buffers on both sides hold.
    let size = publish_incompressible(&server, "large", 8 * 1024 * 1024).await;

    // Ask for it on a socket with a small receive buffer, and do not read for 3 s.
    let mut stalled = ask_for_crate(&server, "large", 4096).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_others_are_served(&server).await;

    // The server gave up on it: what arrived ends early, with the connection closed.
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match stalled.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection is still open after 13 s");
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&received[..received.len().min(100)])
    );
    assert!(
        received.len() < size,
        "the whole answer arrived ({} of {size} bytes)",
        received.len()
    );
}

/// Connections the server holds open, as `/metrics` reports them (every thread).
async fn open_connections(server: &TestServer) -> f64 {
    crate::operations::metrics(server)
        .await
        .lines()
        .filter(|line| line.starts_with("cargohold_connections_open{"))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_client_that_reads_a_download_a_few_bytes_at_a_time_loses_its_connection() {
    let server = TestServer::start_with(|config| config.limits.write_timeout_secs = 1).await;
    let size = publish_incompressible(&server, "trickled", 8 * 1024 * 1024).await;
    let before = open_connections(&server).await;

    // 1 KiB every 100 ms keeps the socket full yet moving: 10 KiB a second, which
    // would take 14 minutes for the whole answer. The server lets go of the
    // connection; what its kernel had already queued still trickles in after that.
    let mut trickle = ask_for_crate(&server, "trickled", 4096).await;
    let (mut received, mut served, mut let_go) = (0, false, None);
    let mut buffer = [0u8; 1024];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        for _ in 0..5 {
            match trickle.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let open = open_connections(&server).await;
        served |= open > before;
        if served && open == before {
            let_go = Some(started.elapsed());
            break;
        }
    }
    assert!(served, "the download's connection never showed in /metrics");
    let let_go = let_go.expect("the server still holds the connection after 20 s");
    assert!(let_go < Duration::from_secs(10), "let go after {let_go:?}");
    assert!(received < size, "the whole answer arrived");
    assert_others_are_served(&server).await;
}

#[tokio::test]
async fn a_slow_client_that_keeps_reading_gets_the_whole_download() {
    let server = TestServer::start_with(|config| config.limits.write_timeout_secs = 1).await;
    let size = publish_incompressible(&server, "patient", 2 * 1024 * 1024).await;

    // The socket stays full for seconds, several write timeouts, while the client
    // takes far more than the minimum in each.
    let mut patient = ask_for_crate(&server, "patient", 16 * 1024).await;
    let started = Instant::now();
    let (received, _) = read_paced(
        &mut patient,
        16 * 1024,
        Duration::from_millis(25),
        usize::MAX,
        Duration::from_secs(30),
    )
    .await;
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head")
        + 4;
    assert!(received.starts_with(b"HTTP/1.1 200"));
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "the client was not slow: {:?}",
        started.elapsed()
    );
    assert_eq!(received.len() - head_end, size);
}
