//! HTTP/1.1 on the wire: plain GETs that memory answers go out through the fast
//! lane (`fast_lane.rs`), and a connection passes to hyper at the first request the
//! lane does not answer, without losing or reordering anything.

use std::collections::BTreeMap;
use std::time::Duration;

use cargohold_test_support::{CrateFixture, TarEntry, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer as read off the socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Lowercase names; `date` left out (it moves with the clock).
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.address()).await.unwrap()
}

fn get(path: &str, extra: &str) -> String {
    format!("GET /registries/main/{path} HTTP/1.1\r\nHost: registry\r\n{extra}\r\n")
}

/// Reads `count` answers (no `HEAD`s among the requests), failing if the server
/// closes first or stops answering for five seconds.
async fn read_answers(stream: &mut TcpStream, count: usize) -> Vec<Answer> {
    let mut input = Vec::new();
    let mut answers = Vec::new();
    loop {
        while answers.len() < count {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(head) = response.parse(&input).unwrap() else {
                break;
            };
            let status = response.code.unwrap();
            let headers: BTreeMap<String, String> = response
                .headers
                .iter()
                .filter(|h| !h.name.eq_ignore_ascii_case("date"))
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8(h.value.to_vec()).unwrap(),
                    )
                })
                .collect();
            let length: usize = headers
                .get("content-length")
                .map_or(0, |length| length.parse().unwrap());
            if input.len() < head + length {
                break;
            }
            let body = input[head..head + length].to_vec();
            input.drain(..head + length);
            answers.push(Answer {
                status,
                headers,
                body,
            });
        }
        if answers.len() == count {
            assert!(input.is_empty(), "more than {count} answers came");
            return answers;
        }
        let mut chunk = [0; 16 * 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the server answers within 5 s")
            .unwrap();
        assert!(
            read > 0,
            "the server closed after {} answers",
            answers.len()
        );
        input.extend_from_slice(&chunk[..read]);
    }
}

/// A registry with `alpha` (two versions) and `beta`, whose index files, a "no such
/// crate" answer and `alpha` 1.0.0's `.crate` are in memory.
async fn warm_server() -> TestServer {
    let server = TestServer::start().await;
    for (name, version) in [("alpha", "1.0.0"), ("alpha", "1.1.0"), ("beta", "1.0.0")] {
        let response = server.publish(&CrateFixture::new(name, version)).await;
        assert_eq!(response.status(), 200);
    }
    for path in ["index/al/ph/alpha", "index/be/ta/beta", "index/no/ne/none"] {
        server.get(&format!("registries/main/{path}")).await;
    }
    assert_eq!(server.download("alpha", "1.0.0").await.0, 200);
    server
}

/// What cargo (through curl) adds to every request over `http://`: an offer to
/// switch to HTTP/2, which cargohold declines by answering in HTTP/1.1.
const CARGO_OFFERS_HTTP2: &str = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
                                  HTTP2-Settings: AAMAAABkAAQAAQAAAAIAAAAA\r\n";

#[tokio::test]
async fn cargos_requests_over_http_stay_in_the_lane_despite_its_offer_of_http2() {
    let server = warm_server().await;
    let hand_overs = server.app.stats.fast_lane_hand_overs.get();
    let mut stream = connect(&server).await;
    let requests = [
        get("index/config.json", CARGO_OFFERS_HTTP2),
        get("index/al/ph/alpha", CARGO_OFFERS_HTTP2),
        get("crates/alpha/alpha-1.0.0.crate", CARGO_OFFERS_HTTP2),
    ];
    stream
        .write_all(requests.concat().as_bytes())
        .await
        .unwrap();
    let answers = read_answers(&mut stream, 3).await;
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [200, 200, 200]
    );
    assert!(answers.iter().all(|a| !a.headers.contains_key("upgrade")));
    assert_eq!(server.app.stats.fast_lane_hand_overs.get(), hand_overs);

    // Asked to close, or to switch to anything but h2c, the lane leaves it to hyper.
    stream
        .write_all(get("index/be/ta/beta", "Connection: close\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answers(&mut stream, 1).await[0].status, 200);
    assert_eq!(server.app.stats.fast_lane_hand_overs.get(), hand_overs + 1);
}

/// The ETag `path` of the main registry is served with now.
async fn etag_of(server: &TestServer, path: &str) -> String {
    let response = server.get(&format!("registries/main/{path}")).await;
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_across_the_hand_over_to_hyper() {
    let server = warm_server().await;
    let beta_etag = etag_of(&server, "index/be/ta/beta").await;
    let mut stream = connect(&server).await;
    // All in one write: the lane answers the first four from memory; the fifth (a
    // query string) is hyper's, and so is everything after it on this connection.
    let requests = [
        get("index/al/ph/alpha", ""),
        get(
            "index/be/ta/beta",
            &format!("If-None-Match: {beta_etag}\r\n"),
        ),
        get("index/config.json", ""),
        get("index/no/ne/none", ""),
        get("index/be/ta/beta?hand=over", ""),
        get("crates/alpha/alpha-1.0.0.crate", ""),
        get("index/al/ph/alpha", ""),
    ]
    .concat();
    stream.write_all(requests.as_bytes()).await.unwrap();
    let answers = read_answers(&mut stream, 7).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 304, 200, 404, 200, 200, 200]);
    let alpha = String::from_utf8_lossy(&answers[0].body);
    assert!(alpha.contains("\"vers\":\"1.1.0\""), "{alpha}");
    assert!(answers[1].body.is_empty());
    let config: serde_json::Value = serde_json::from_slice(&answers[2].body).unwrap();
    assert_eq!(config["api"], server.url("registries/main"));
    assert!(String::from_utf8_lossy(&answers[4].body).contains("\"name\":\"beta\""));
    assert_eq!(
        answers[5].body,
        CrateFixture::new("alpha", "1.0.0").tarball()
    );
    assert_eq!(answers[6].body, answers[0].body);

    // The connection stays open for more, now served by hyper.
    stream
        .write_all(get("index/be/ta/beta", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answers(&mut stream, 1).await[0].status, 200);
}

#[tokio::test]
async fn answers_from_memory_carry_the_same_headers_with_or_without_hyper() {
    let server = warm_server().await;
    let alpha_etag = etag_of(&server, "index/al/ph/alpha").await;
    let requests = [
        get("index/al/ph/alpha", ""),
        get(
            "index/al/ph/alpha",
            &format!("If-None-Match: {alpha_etag}\r\n"),
        ),
        get("index/config.json", ""),
        get("index/no/ne/none", ""),
        get("crates/alpha/alpha-1.0.0.crate", ""),
        get(
            "index/al/ph/alpha",
            &format!("{CARGO_OFFERS_HTTP2}If-None-Match: {alpha_etag}\r\n"),
        ),
        get("index/be/ta/beta", CARGO_OFFERS_HTTP2),
    ];
    let mut fast = connect(&server).await;
    fast.write_all(requests.concat().as_bytes()).await.unwrap();
    let from_the_lane = read_answers(&mut fast, requests.len()).await;

    // A first request the lane leaves to hyper (one with a query) makes the
    // whole connection hyper's.
    let mut slow = connect(&server).await;
    let hand_over = get("index/config.json?hand=over", "");
    slow.write_all([hand_over, requests.concat()].concat().as_bytes())
        .await
        .unwrap();
    let from_hyper = read_answers(&mut slow, requests.len() + 1).await;

    for (request, (lane, hyper)) in requests
        .iter()
        .zip(from_the_lane.iter().zip(&from_hyper[1..]))
    {
        assert_eq!(lane.status, hyper.status, "{request}");
        assert_eq!(lane.headers, hyper.headers, "{request}");
        assert_eq!(lane.body, hyper.body, "{request}");
    }
    assert_eq!(from_the_lane[1].status, 304);
    assert_eq!(from_the_lane[1].headers["etag"], alpha_etag);
    assert_eq!(
        from_the_lane[4].headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
}

#[tokio::test]
async fn a_request_head_sent_in_pieces_is_answered_once_when_whole() {
    let server = warm_server().await;
    let mut stream = connect(&server).await;
    let request = get("index/al/ph/alpha", "Accept: */*\r\n");
    let (first, rest) = request.split_at(10);
    let (second, third) = rest.split_at(rest.len() - 2);
    for piece in [first, second, third] {
        stream.write_all(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stream
        .write_all(get("index/be/ta/beta", "").as_bytes())
        .await
        .unwrap();
    let answers = read_answers(&mut stream, 2).await;
    assert!(String::from_utf8_lossy(&answers[0].body).contains("\"name\":\"alpha\""));
    assert!(String::from_utf8_lossy(&answers[1].body).contains("\"name\":\"beta\""));
}

#[tokio::test]
async fn a_private_registry_answers_a_token_holder_from_memory_and_nobody_else() {
    let server = TestServer::start_with(|config| {
        let mut secret = cargohold::config::RegistryConfig::local("secret");
        secret.auth_required = true;
        config.registries.push(secret);
    })
    .await;
    let fixture = CrateFixture::new("hidden", "1.0.0");
    assert_eq!(server.publish_to("secret", &fixture).await.status(), 200);
    let token = format!("Authorization: {}\r\n", server.admin_token);
    let secret = |path: &str, extra: &str| {
        format!("GET /registries/secret/{path} HTTP/1.1\r\nHost: registry\r\n{extra}\r\n")
    };
    let mut stream = connect(&server).await;
    let requests = [
        secret("index/config.json", &token),
        secret("index/hi/dd/hidden", &token),
        secret("crates/hidden/hidden-1.0.0.crate", &token),
        secret("crates/hidden/hidden-1.0.0.crate", &token),
    ];
    stream
        .write_all(requests.concat().as_bytes())
        .await
        .unwrap();
    let answers = read_answers(&mut stream, 4).await;
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [200, 200, 200, 200]
    );
    assert_eq!(answers[3].body, fixture.tarball());
    let etag = answers[1].headers["etag"].clone();

    // Without a token, or with a wrong one, nothing comes from memory: 401 and no index.
    let mut stranger = connect(&server).await;
    let requests = [
        secret("index/hi/dd/hidden", &format!("If-None-Match: {etag}\r\n")),
        secret(
            "index/hi/dd/hidden",
            "Authorization: cargohold_not-a-token\r\n",
        ),
        secret("index/config.json", ""),
        secret("crates/hidden/hidden-1.0.0.crate", ""),
    ];
    stranger
        .write_all(requests.concat().as_bytes())
        .await
        .unwrap();
    for answer in read_answers(&mut stranger, 4).await {
        assert_eq!(answer.status, 401);
        assert!(answer.headers.contains_key("www-authenticate"));
        assert!(!String::from_utf8_lossy(&answer.body).contains("\"vers\""));
    }

    // The holder's revalidation on the first connection is still answered.
    stream
        .write_all(
            secret(
                "index/hi/dd/hidden",
                &format!("{token}If-None-Match: {etag}\r\n"),
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(read_answers(&mut stream, 1).await[0].status, 304);
}

#[tokio::test]
async fn a_first_download_is_read_into_memory_and_counted_once_without_leaving_the_lane() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("fresh", "1.0.0");
    assert_eq!(server.publish(&fixture).await.status(), 200);
    let stats = &server.app.stats;
    let hand_overs = stats.fast_lane_hand_overs.get();

    // Nothing has read the `.crate` yet: the lane reads it in and answers both.
    let mut stream = connect(&server).await;
    let download = get("crates/fresh/fresh-1.0.0.crate", "");
    stream
        .write_all(format!("{download}{download}").as_bytes())
        .await
        .unwrap();
    for answer in read_answers(&mut stream, 2).await {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, fixture.tarball());
        assert_eq!(answer.headers["content-type"], "application/gzip");
    }
    assert_eq!(stats.fast_lane_hand_overs.get(), hand_overs);

    // A version that does not exist is hyper's to refuse, on the same connection.
    stream
        .write_all(get("crates/fresh/fresh-9.9.9.crate", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answers(&mut stream, 1).await[0].status, 404);
    assert_eq!(stats.fast_lane_hand_overs.get(), hand_overs + 1);

    // Reading it into memory counted nothing: two downloads, two counts.
    server.app.flush_downloads().await.unwrap();
    assert_eq!(server.count("SELECT downloads FROM versions").await, 2);
}

#[tokio::test]
async fn a_large_crate_from_memory_arrives_whole_behind_its_head() {
    let server = TestServer::start().await;
    let mut fixture = CrateFixture::new("bulky", "1.0.0");
    // Bytes that do not compress: the `.crate` stays well past the lane's copy limit.
    let mut noise = Vec::with_capacity(300 * 1024);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    while noise.len() < 300 * 1024 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.extend_from_slice(&state.to_le_bytes());
    }
    fixture
        .extra_entries
        .push(TarEntry::file("bulky-1.0.0/noise.bin", noise));
    let tarball = fixture.tarball();
    assert!(tarball.len() > 256 * 1024, "{}", tarball.len());
    assert_eq!(server.publish(&fixture).await.status(), 200);
    // The first download reads it into memory.
    assert_eq!(server.download("bulky", "1.0.0").await.1, tarball);

    let mut stream = connect(&server).await;
    let download = get("crates/bulky/bulky-1.0.0.crate", "");
    stream
        .write_all(
            [download.as_str(), &get("index/bu/lk/bulky", ""), &download]
                .concat()
                .as_bytes(),
        )
        .await
        .unwrap();
    let answers = read_answers(&mut stream, 3).await;
    assert_eq!(answers[0].body, tarball);
    assert!(String::from_utf8_lossy(&answers[1].body).contains("\"name\":\"bulky\""));
    assert_eq!(answers[2].body, tarball);
    assert_eq!(
        answers[2].headers["content-length"],
        tarball.len().to_string()
    );
}

#[tokio::test]
async fn stopping_closes_idle_and_busy_connections_of_the_lane() {
    let server = warm_server().await;
    let mut idle = connect(&server).await;
    idle.write_all(get("index/al/ph/alpha", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answers(&mut idle, 1).await[0].status, 200);
    // A client that never pauses: each answer is followed by the next request at once.
    let mut busy = connect(&server).await;
    let asking = tokio::spawn(async move {
        let request = get("index/be/ta/beta", "");
        let mut answered = 0_u64;
        let mut chunk = vec![0; 64 * 1024];
        loop {
            if busy.write_all(request.as_bytes()).await.is_err() {
                return answered;
            }
            match busy.read(&mut chunk).await {
                Ok(0) | Err(_) => return answered,
                Ok(_) => answered += 1,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("the server stops although a client keeps asking");
    let answered = tokio::time::timeout(Duration::from_secs(5), asking)
        .await
        .expect("the busy connection is closed")
        .unwrap();
    assert!(answered > 10, "{answered}");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest))
        .await
        .expect("the idle connection is closed");
    assert!(read.is_err() || rest.is_empty(), "{rest:?}");
}
