//! `S3Server`: a real S3-protocol server process for tests of the S3 blob store.
//!
//! The server is moto's (PyPI: `pip install 'moto[server]'`; `.ci/run` installs it when
//! missing), run in `python3` on a port it picks. It speaks the S3 REST protocol over HTTP and keeps buckets in memory, so
//! every [`S3Server`] starts empty; it ends when the `S3Server` is dropped. Without
//! moto, [`S3Server::start`] panics rather than letting a test pass without S3.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cargohold::config::{Config, S3Config};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// moto's server on 127.0.0.1 and a port the kernel picks, which it prints; then it serves until killed.
const MOTO: &str = "import threading\n\
from moto.server import ThreadedMotoServer\n\
server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n\
server.start()\n\
print(server.get_host_and_port()[1], flush=True)\n\
threading.Event().wait()\n";

const INSTALL_HINT: &str = "S3 tests need moto's S3 server: `python3 -m pip install 'moto[server]'` \
     (.ci/run does this when moto is missing)";

/// Credentials the tests hand to cargohold; the server accepts any.
const ACCESS_KEY_ID: &str = "cargohold-test";
const SECRET_ACCESS_KEY: &str = "cargohold-test-secret";

/// A running S3 server on a loopback port of its own.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl S3Server {
    /// Starts the server and waits until it answers.
    pub async fn start() -> Self {
        // moto binds port 0 itself and prints the port it got: a port picked here and
        // handed over could be taken in between by another test's server, which this
        // test would then share.
        let mut child = Command::new("python3")
            .args(["-c", MOTO])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("python3 did not start ({err}); {INSTALL_HINT}"));
        let stdout = child.stdout.take().expect("a piped stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let port: u16 = match (read, line.trim().parse()) {
            (Ok(_), Ok(port)) => port,
            _ => {
                let status = child.wait().ok();
                panic!("the S3 server did not start ({status:?}, said {line:?}); {INSTALL_HINT}")
            }
        };
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while client.get(&server.endpoint).send().await.is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the S3 server exited ({status}); {INSTALL_HINT}");
            }
            assert!(
                Instant::now() < deadline,
                "the S3 server did not answer on {} within 30 s",
                server.endpoint
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// Creates the empty bucket `name`.
    pub async fn create_bucket(&self, name: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("the S3 server answers");
        assert!(
            response.status().is_success(),
            "creating bucket {name}: {}",
            response.status()
        );
    }

    /// Deletes the empty bucket `name`, behind cargohold's back.
    pub async fn delete_bucket(&self, name: &str) {
        let response = reqwest::Client::new()
            .delete(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("the S3 server answers");
        assert!(
            response.status().is_success(),
            "deleting bucket {name}: {}",
            response.status()
        );
    }

    /// `[s3]` settings that reach this server.
    pub fn s3_config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some(ACCESS_KEY_ID.into()),
            secret_access_key: Some(SECRET_ACCESS_KEY.into()),
            redirect_downloads_seconds: 0,
        }
    }

    /// Points `config`'s blob store at `bucket`, under `prefix`.
    pub fn configure(&self, config: &mut Config, bucket: &str, prefix: &str) {
        config.storage_url = Some(format!("s3://{bucket}/{prefix}"));
        config.s3 = self.s3_config();
    }

    /// The bucket as an object store, to look at what cargohold wrote.
    pub fn bucket(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id(ACCESS_KEY_ID)
                .with_secret_access_key(SECRET_ACCESS_KEY)
                .build()
                .expect("an S3 client"),
        )
    }

    /// Every key in `bucket`, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .bucket(bucket)
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("the bucket can be listed");
        keys.sort();
        keys
    }

    /// Deletes `key` from `bucket`, behind cargohold's back.
    pub async fn delete(&self, bucket: &str, key: &str) {
        self.bucket(bucket)
            .delete(&Path::from(key))
            .await
            .expect("the object can be deleted");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
