//! Which thread serves a connection: with `connection-threads = "per-core"`, the
//! thread of the CPU the connection arrived on, unless that thread already has
//! well more than another; with `"shared"` (the default), the general threads.
//! The threads are seen as `/metrics` reports them.

use std::io::{Read, Write};
use std::net::TcpStream;

use cargohold::config::ConnectionThreads;
use cargohold::listeners::{allowed_cpus, pin_this_thread};
use cargohold_test_support::TestServer;

use crate::operations::{metrics, sample};

/// Opens `count` connections from a thread pinned to `cpu`, each answered one
/// `config.json` (so the server has accepted it), and returns them still open.
/// The test's runtime runs on meanwhile: it is the server's general runtime.
async fn connect_from_cpu(server: &TestServer, cpu: usize, count: usize) -> Vec<TcpStream> {
    let address = server.address();
    let client = std::thread::spawn(move || {
        pin_this_thread(cpu).expect("the test may run on every CPU it is allowed");
        (0..count)
            .map(|_| {
                let mut stream = TcpStream::connect(address).unwrap();
                stream
                    .write_all(b"GET /registries/main/index/config.json HTTP/1.1\r\nHost: registry\r\n\r\n")
                    .unwrap();
                read_one_answer(&mut stream);
                stream
            })
            .collect()
    });
    tokio::task::spawn_blocking(move || client.join().unwrap())
        .await
        .unwrap()
}

/// Reads one answer with a `content-length`, asserting it is a 200.
fn read_one_answer(stream: &mut TcpStream) {
    let mut input = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0, "the server closed the connection");
        input.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&input);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let length: usize = text[..end]
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .expect("a content-length")
            .parse()
            .unwrap();
        if input.len() >= end + 4 + length {
            return;
        }
    }
}

async fn per_core_server() -> TestServer {
    TestServer::start_with(|config| config.connection_threads = ConnectionThreads::PerCore).await
}

/// A per-core server, the CPUs it runs a thread on and those threads' names;
/// none with one CPU, where there are no threads to tell apart.
async fn per_core_server_on_several_cpus() -> Option<(TestServer, Vec<usize>, Vec<String>)> {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("one CPU: one thread takes every connection");
        return None;
    }
    let lanes = cpus.iter().map(|cpu| format!("cpu{cpu}")).collect();
    Some((per_core_server().await, cpus, lanes))
}

/// Open connections per thread, as `/metrics` reports them.
async fn open_connections(server: &TestServer, threads: &[String]) -> Vec<f64> {
    let text = metrics(server).await;
    threads
        .iter()
        .map(|thread| {
            let series = format!("cargohold_connections_open{{thread=\"{thread}\"}}");
            sample(&text, &series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
        })
        .collect()
}

#[tokio::test]
async fn connections_stay_on_the_thread_of_the_cpu_they_arrived_on() {
    let Some((server, cpus, lanes)) = per_core_server_on_several_cpus().await else {
        return;
    };
    for (index, &cpu) in cpus.iter().enumerate() {
        let _open = connect_from_cpu(&server, cpu, 2).await;
        let expected: Vec<f64> = (0..cpus.len())
            .map(|other| if other == index { 2.0 } else { 0.0 })
            .collect();
        // The previous CPU's connections were closed by the client just now; the
        // server counts them out once it has read their end.
        let mut open = open_connections(&server, &lanes).await;
        for _ in 0..50 {
            if open == expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            open = open_connections(&server, &lanes).await;
        }
        assert_eq!(open, expected, "connections from cpu{cpu}");
    }
}

#[tokio::test]
async fn connections_that_all_arrive_on_one_cpu_are_shared_among_the_threads() {
    let Some((server, cpus, lanes)) = per_core_server_on_several_cpus().await else {
        return;
    };
    let count = 16 * cpus.len();
    let _open = connect_from_cpu(&server, cpus[0], count).await;
    let open = open_connections(&server, &lanes).await;
    assert_eq!(open.iter().sum::<f64>(), count as f64, "{open:?}");
    let fair = (count / cpus.len()) as f64;
    for (lane, n) in lanes.iter().zip(&open) {
        assert!(
            (fair - 4.0..=fair + 4.0).contains(n),
            "{lane} holds {n} of {count}: {open:?}"
        );
    }
}

#[tokio::test]
async fn shared_threads_serve_the_index_and_the_api_from_one_socket() {
    let server =
        TestServer::start_with(|config| config.connection_threads = ConnectionThreads::Shared)
            .await;
    let cpus = allowed_cpus();
    let _open = connect_from_cpu(&server, cpus.first().copied().unwrap_or(0), 3).await;
    // An API request: the fast lane hands its connection to the general threads.
    let response = server.get("registries/main/api/v1/crates?q=none").await;
    assert_eq!(response.status(), 200);
    let text = metrics(&server).await;
    assert_eq!(
        sample(&text, "cargohold_connections_open{thread=\"shared\"}"),
        Some(3.0),
        "{text}"
    );
    assert!(
        sample(&text, "cargohold_connections_open{thread=\"general\"}") >= Some(1.0),
        "{text}"
    );
    assert!(!text.contains("thread=\"cpu"), "{text}");
}

#[tokio::test]
async fn a_per_core_thread_hands_a_connection_to_hyper_and_the_server_stops_cleanly() {
    let server = per_core_server().await;
    let address = server.address();
    let answers = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        // An index request the thread answers, then one only hyper does, pipelined.
        stream
            .write_all(
                b"GET /registries/main/index/config.json HTTP/1.1\r\nHost: registry\r\n\r\n\
                  GET /registries/main/api/v1/crates?q=none HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let mut all = String::new();
        stream.read_to_string(&mut all).unwrap();
        all
    })
    .await
    .unwrap();
    assert_eq!(answers.matches("HTTP/1.1 200 OK").count(), 2, "{answers}");
    assert!(answers.contains("\"dl\""), "config.json first: {answers}");
    assert!(answers.contains("\"crates\""), "then the search: {answers}");
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), server.stop()).await;
    assert!(
        stopped.is_ok(),
        "the per-core threads ended with the server"
    );
}
