//! `TestServer`: a real cargohold on 127.0.0.1:<random port> with a throwaway database and blob directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cargohold::Listeners;
use cargohold::app::App;
use cargohold::config::{Config, RegistryConfig};
use cargohold::db::Pool;
use cargohold::ops;
use cargohold::ops::tokens::TokenRequest;
use cargohold::ops::users::NewUser;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A running registry. Dropping it shuts the server down; its directory goes with it.
pub struct TestServer {
    /// `http://127.0.0.1:<port>/`
    pub url: String,
    /// A token of the `admin` user with every scope.
    pub admin_token: String,
    pub client: reqwest::Client,
    /// The server's state, for looking at what it stored.
    pub app: Arc<App>,
    shutdown: Option<oneshot::Sender<()>>,
    finished: Option<tokio::task::JoinHandle<()>>,
    /// The PostgreSQL database of this server, when tests run against PostgreSQL.
    database: Option<ScratchDatabase>,
    data_dir: TempDir,
}

/// What the registry holds, counted: a rejected request must leave it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    pub crates: i64,
    pub versions: i64,
    pub dependencies: i64,
    pub owners: i64,
    pub index_files: i64,
    pub publish_events: i64,
    pub blobs: usize,
    pub yanked_versions: i64,
    pub team_owners: i64,
    pub audit_events: i64,
    pub tokens: i64,
    pub revoked_tokens: i64,
    pub users: i64,
    pub disabled_users: i64,
    pub admins: i64,
    pub teams: i64,
    pub team_members: i64,
    pub grants: i64,
    /// Webhook deliveries, pending and finished (their history).
    pub webhook_deliveries: i64,
}

/// Where test servers listen unless a test says otherwise: the system picks the port.
const LOOPBACK_ANY_PORT: &str = "127.0.0.1:0";

/// Listening before the server task starts (no sleep, no race), as `config` asks;
/// `config.listen` then holds the real port.
fn listen(config: &mut Config) -> Listeners {
    let listeners = Listeners::bind(config.listen, config.connection_threads).expect("a free port");
    config.listen = listeners.local_addr();
    listeners
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `customize` has adjusted its configuration.
    pub async fn start_with(customize: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::for_tests(data_dir.path(), LOOPBACK_ANY_PORT.parse().unwrap());
        let database = ScratchDatabase::from_env().await;
        if let Some(database) = &database {
            config.database_url = Some(database.url.clone());
        }
        customize(&mut config);
        let listeners = listen(&mut config);
        let app = Arc::new(App::build(config).await.expect("the app starts"));
        let first = ops::setup::first_start(&app)
            .await
            .expect("first start succeeds")
            .expect("an empty database gets an administrator");
        Self::serve(listeners, app, first.token, database, data_dir)
    }

    /// Starts a second node on this server's database, as behind a load balancer:
    /// its own address, data directory, caches and blob directory, `customize`d.
    pub async fn start_node(&self, customize: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::for_tests(data_dir.path(), LOOPBACK_ANY_PORT.parse().unwrap());
        config.database_url = Some(self.app.config.database_url());
        customize(&mut config);
        let listeners = listen(&mut config);
        let app = Arc::new(App::build(config).await.expect("the node starts"));
        let first = ops::setup::first_start(&app)
            .await
            .expect("the node's first start succeeds");
        assert!(first.is_none(), "the database was set up by the first node");
        Self::serve(listeners, app, self.admin_token.clone(), None, data_dir)
    }

    fn serve(
        listeners: Listeners,
        app: Arc<App>,
        admin_token: String,
        database: Option<ScratchDatabase>,
        data_dir: TempDir,
    ) -> Self {
        let addr = listeners.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let server_app = app.clone();
        let finished = tokio::spawn(async move {
            cargohold::serve(listeners, server_app, async {
                let _ = rx.await;
            })
            .await
            .expect("the server runs");
        });
        Self {
            url: format!("http://{addr}/"),
            admin_token,
            client: reqwest::Client::new(),
            app,
            shutdown: Some(tx),
            finished: Some(finished),
            database,
            data_dir,
        }
    }

    /// The sparse index URL of registry `main`, as cargo's config wants it.
    pub fn index_url(&self) -> String {
        self.index_url_of("main")
    }

    /// The sparse index URL of `registry`, as cargo's config wants it.
    pub fn index_url_of(&self, registry: &str) -> String {
        format!("sparse+{}registries/{registry}/index/", self.url)
    }

    /// The git index URL of `registry` (`git-index = true`), as cargo's config wants it.
    pub fn git_url_of(&self, registry: &str) -> String {
        format!("{}registries/{registry}/git", self.url)
    }

    /// The bare repository of `registry`'s git index.
    pub fn git_dir(&self, registry: &str) -> PathBuf {
        self.data_dir().join("git").join(format!("{registry}.git"))
    }

    /// The subjects of the git index's commits, newest first (none before the first).
    pub async fn git_subjects(&self, registry: &str) -> Vec<String> {
        let output = tokio::process::Command::new("git")
            .arg("--git-dir")
            .arg(self.git_dir(registry))
            .args(["log", "--format=%s"])
            .output()
            .await
            .expect("git runs");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits (up to ten seconds) until the git index's newest commit is `subject`.
    pub async fn wait_for_git_commit(&self, registry: &str, subject: &str) {
        for _ in 0..200 {
            if self
                .git_subjects(registry)
                .await
                .first()
                .map(String::as_str)
                == Some(subject)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the git index of `{registry}` never got the commit {subject:?}; it has {:?}",
            self.git_subjects(registry).await
        );
    }

    /// The address the server listens on, for tests that speak raw TCP.
    pub fn address(&self) -> std::net::SocketAddr {
        self.app.config.listen
    }

    /// A URL under the server, from a path without the leading slash.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    /// The data directory of this server.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Creates a user and returns a token for it with the default scopes.
    pub async fn create_user(&self, login: &str) -> String {
        self.create_user_with_token(login, TokenRequest::default())
            .await
    }

    /// Creates a user and a token shaped by `request`.
    pub async fn create_user_with_token(&self, login: &str, request: TokenRequest) -> String {
        let user = NewUser {
            login: login.into(),
            ..NewUser::default()
        };
        ops::users::add(&self.app, user, None)
            .await
            .expect("the user is created");
        self.create_token(login, request).await
    }

    /// Creates a token for an existing user.
    pub async fn create_token(&self, login: &str, request: TokenRequest) -> String {
        ops::tokens::create(&self.app, login, request, None)
            .await
            .expect("the token is created")
            .token
    }

    /// Publishes `fixture` as the administrator.
    pub async fn publish(&self, fixture: &crate::CrateFixture) -> reqwest::Response {
        self.publish_body(fixture.publish_body(), &self.admin_token)
            .await
    }

    /// Publishes `fixture` to `registry` as the administrator.
    pub async fn publish_to(
        &self,
        registry: &str,
        fixture: &crate::CrateFixture,
    ) -> reqwest::Response {
        self.authed(
            reqwest::Method::PUT,
            &format!("registries/{registry}/api/v1/crates/new"),
            &self.admin_token,
        )
        .body(fixture.publish_body())
        .send()
        .await
        .expect("the server answers")
    }

    /// `PUT`s `fixture`'s `.crate` at its download URL in registry `main`, as `token`.
    pub async fn upload(&self, fixture: &crate::CrateFixture, token: &str) -> reqwest::Response {
        self.upload_bytes(&fixture.name, &fixture.version, fixture.tarball(), token)
            .await
    }

    /// `PUT`s `bytes` as `name-version.crate` in registry `main`, as `token`.
    pub async fn upload_bytes(
        &self,
        name: &str,
        version: &str,
        bytes: Vec<u8>,
        token: &str,
    ) -> reqwest::Response {
        self.client
            .put(self.url(&format!(
                "registries/main/crates/{name}/{name}-{version}.crate"
            )))
            .header("authorization", token)
            .body(bytes)
            .send()
            .await
            .expect("the server answers")
    }

    /// A request to `path` carrying `token` in `Authorization`, ready for a body and `send()`.
    pub fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("authorization", token)
    }

    /// `GET` of a path under the server, without a token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the server answers")
    }

    /// Downloads `name@version` from registry `main`: status and bytes.
    pub async fn download(&self, name: &str, version: &str) -> (u16, Vec<u8>) {
        self.download_from("main", name, version).await
    }

    /// Downloads `name@version` from `registry`: status and bytes.
    pub async fn download_from(&self, registry: &str, name: &str, version: &str) -> (u16, Vec<u8>) {
        let response = self
            .get(&format!(
                "registries/{registry}/crates/{name}/{name}-{version}.crate"
            ))
            .await;
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap_or_default().to_vec())
    }

    /// The logins of the owners of `name`, in the order the API lists them.
    pub async fn owner_logins(&self, name: &str) -> Vec<String> {
        let body: serde_json::Value = self
            .get(&format!("registries/main/api/v1/crates/{name}/owners"))
            .await
            .json()
            .await
            .expect("an owners list");
        body["users"]
            .as_array()
            .expect("a users array")
            .iter()
            .map(|user| {
                let id = user["id"].as_u64().expect("a numeric id");
                assert!(
                    id <= u64::from(u32::MAX),
                    "cargo needs ids that fit a u32: {user}"
                );
                user["login"].as_str().expect("a login").to_owned()
            })
            .collect()
    }

    /// `PUT /api/v1/crates/new` with `body`, as `token`.
    pub async fn publish_body(&self, body: Vec<u8>, token: &str) -> reqwest::Response {
        self.client
            .put(self.url("registries/main/api/v1/crates/new"))
            .header("authorization", token)
            .body(body)
            .send()
            .await
            .expect("the server answers")
    }

    /// Publishes `body` as `token` and asserts it is refused with `status`, a
    /// cargo error envelope whose message contains `needle`, and nothing stored.
    #[track_caller]
    pub fn assert_publish_rejected<'a>(
        &'a self,
        body: Vec<u8>,
        token: &'a str,
        status: u16,
        needle: &'a str,
    ) -> impl std::future::Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let before = self.stored_state().await;
            let response = self.publish_body(body, token).await;
            let got = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            assert_eq!(got, status, "at {caller}: unexpected status; body: {text}");
            let detail = error_detail(&text)
                .unwrap_or_else(|| panic!("at {caller}: not cargo's error envelope: {text}"));
            assert!(
                detail.contains(needle),
                "at {caller}: expected the message to mention {needle:?}, got: {detail}"
            );
            assert_eq!(
                self.stored_state().await,
                before,
                "at {caller}: a rejected publish changed what is stored"
            );
        }
    }

    /// The index file of `name` in registry `main`: status and body.
    pub async fn index_file(&self, name: &str) -> (u16, String) {
        self.index_file_in("main", name).await
    }

    /// The index file of `name` in `registry`: status and body.
    pub async fn index_file_in(&self, registry: &str, name: &str) -> (u16, String) {
        let path = cargohold_protocol::name::index_path(name);
        let response = self
            .get(&format!("registries/{registry}/index/{path}"))
            .await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Counts what the database and the blob store hold.
    pub async fn stored_state(&self) -> StoredState {
        StoredState {
            crates: self.count("SELECT COUNT(*) FROM crates").await,
            versions: self.count("SELECT COUNT(*) FROM versions").await,
            dependencies: self.count("SELECT COUNT(*) FROM dependencies").await,
            owners: self.count("SELECT COUNT(*) FROM crate_owners").await,
            index_files: self.count("SELECT COUNT(*) FROM index_files").await,
            publish_events: self
                .count("SELECT COUNT(*) FROM audit_events WHERE action = 'publish'")
                .await,
            blobs: self
                .app
                .storage
                .list("")
                .await
                .expect("the blob store can be listed")
                .len(),
            yanked_versions: self
                .count("SELECT COUNT(*) FROM versions WHERE yanked")
                .await,
            team_owners: self.count("SELECT COUNT(*) FROM crate_team_owners").await,
            audit_events: self.count("SELECT COUNT(*) FROM audit_events").await,
            tokens: self.count("SELECT COUNT(*) FROM api_tokens").await,
            revoked_tokens: self
                .count("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NOT NULL")
                .await,
            users: self.count("SELECT COUNT(*) FROM users").await,
            disabled_users: self
                .count("SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL")
                .await,
            admins: self
                .count("SELECT COUNT(*) FROM users WHERE is_admin")
                .await,
            teams: self.count("SELECT COUNT(*) FROM teams").await,
            team_members: self.count("SELECT COUNT(*) FROM team_members").await,
            grants: self.count("SELECT COUNT(*) FROM registry_grants").await,
            webhook_deliveries: self.count("SELECT COUNT(*) FROM webhook_deliveries").await,
        }
    }

    /// Runs a `SELECT COUNT(*) …` on the server's database.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match self.app.db.read() {
            Pool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Pool::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .expect("the count query runs")
    }

    /// Waits until a `SELECT COUNT(*) …` reaches `expected`: for work the server
    /// finishes after answering (a proxy stores what it fetched in the background).
    pub async fn wait_for_count(&self, sql: &'static str, expected: i64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let count = self.count(sql).await;
            if count == expected {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{sql}` stayed at {count}, not {expected}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Runs a query returning one text column, and collects it.
    pub async fn column(&self, sql: &'static str) -> Vec<String> {
        match self.app.db.read() {
            Pool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Pool::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .expect("the query runs")
    }

    /// Runs one statement that changes the database (for setting up what no API
    /// can, such as a token that has already expired).
    pub async fn execute(&self, sql: &'static str) {
        match self.app.db.write() {
            Pool::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Pool::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .expect("the statement runs")
    }

    /// Stops the server gracefully and waits until it has finished.
    /// The one-URL layout the README recommends, over `upstream`'s registry `main` as
    /// crates.io: local `internal`, proxy `crates-io-cache` (`adjust`ed), and virtual
    /// `all` over both, publishing to `internal`.
    pub async fn company(
        upstream: &TestServer,
        adjust: impl FnOnce(&mut RegistryConfig) + Send + 'static,
    ) -> TestServer {
        let index = url::Url::parse(&upstream.url("registries/main/index/")).unwrap();
        TestServer::start_with(move |config| {
            let mut proxy = RegistryConfig::proxy("crates-io-cache", index);
            adjust(&mut proxy);
            config.registries = vec![
                RegistryConfig::local("internal"),
                proxy,
                RegistryConfig::virtual_of(
                    "all",
                    &["internal", "crates-io-cache"],
                    Some("internal"),
                ),
            ];
        })
        .await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(finished) = self.finished.take() {
            let _ = finished.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(database) = self.database.take() {
            database.drop_later();
        }
    }
}

/// A PostgreSQL database made for one test (`CARGOHOLD_TEST_DATABASE_URL` names the server).
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// Where the test's servers connect.
    pub url: String,
}

impl ScratchDatabase {
    /// A new empty database on the server `CARGOHOLD_TEST_DATABASE_URL` names, or
    /// `None` when tests run on SQLite.
    pub async fn from_env() -> Option<Self> {
        match std::env::var("CARGOHOLD_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Some(Self::create(&admin_url).await),
            _ => None,
        }
    }

    async fn create(admin_url: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "cargohold_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut admin = sqlx::postgres::PgConnection::connect(admin_url)
            .await
            .expect("CARGOHOLD_TEST_DATABASE_URL names a reachable PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("a leftover test database can be dropped");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("a test database can be created");
        let mut url = url::Url::parse(admin_url).expect("CARGOHOLD_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// Drops the database from another thread once the server's connections are closed.
    pub fn drop_later(self) {
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) =
                        sqlx::postgres::PgConnection::connect(&self.admin_url).await
                    {
                        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await;
                    }
                });
            }
        });
        let _ = handle.join();
    }
}

/// The first `detail` of a `{"errors":[{"detail":…}]}` body.
pub fn error_detail(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(value["errors"][0]["detail"].as_str()?.to_owned())
}
