//! `CargoSandbox`: the real `cargo`, with its own `CARGO_HOME`, pointed at one `TestServer`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tempfile::TempDir;

use crate::server::TestServer;

/// An isolated `CARGO_HOME` whose registry `test` is a `TestServer`'s `main`.
pub struct CargoSandbox {
    dir: TempDir,
    token: Option<String>,
    /// Further registries: (name, token), tokens passed as `CARGO_REGISTRIES_<NAME>_TOKEN`.
    others: Vec<(String, String)>,
    /// Set once git reads need a home of their own (its `.gitconfig` holds the credential helper).
    home: Option<PathBuf>,
    /// Environment variables every cargo run gets (`CARGO_NET_GIT_FETCH_WITH_CLI`, say).
    envs: Vec<(String, String)>,
}

/// What a cargo run printed, and how it ended.
#[derive(Debug)]
pub struct CargoOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CargoOutput {
    /// Panics with everything cargo printed unless it succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success,
            "cargo failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless cargo failed and said `needle` on stderr.
    #[track_caller]
    pub fn assert_failure_containing(&self, needle: &str) -> &Self {
        assert!(
            !self.success && self.stderr.contains(needle),
            "expected cargo to fail saying {needle:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl From<Output> for CargoOutput {
    fn from(output: Output) -> Self {
        Self {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl CargoSandbox {
    /// A sandbox holding the server's admin token.
    pub fn new(server: &TestServer) -> Self {
        Self::with_token(server, Some(server.admin_token.clone()))
    }

    /// A sandbox whose cargo presents `token` (or none) to the registry.
    pub fn with_token(server: &TestServer, token: Option<String>) -> Self {
        Self::at_registry(server, "main", token)
    }

    /// A sandbox whose registry `test` is the server's registry `registry`, used with `token`.
    pub fn at_registry(server: &TestServer, registry: &str, token: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let home = dir.path().join("cargo-home");
        std::fs::create_dir(&home).expect("CARGO_HOME is created");
        std::fs::write(
            home.join("config.toml"),
            format!(
                r#"[registries.test]
index = "{index}"

[registry]
global-credential-providers = ["cargo:token"]

[net]
# Fail fast instead of retrying against a test server.
retry = 0

[term]
color = "never"
"#,
                index = server.index_url_of(registry)
            ),
        )
        .expect("the cargo config is written");
        Self {
            dir,
            token,
            others: Vec::new(),
            home: None,
            envs: Vec::new(),
        }
    }

    /// Sets `key` to `value` for every later cargo run.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.envs.push((key.to_owned(), value.to_owned()));
    }

    /// Points registry `test` at the git index of the server's `registry` instead
    /// of its sparse index. With `git_token`, git (libgit2 inside cargo, or the
    /// `git` program) answers the server's basic challenge with that token, through a
    /// credential helper in a `.gitconfig` of the sandbox's own `HOME`.
    pub fn use_git_index(&mut self, server: &TestServer, registry: &str, git_token: Option<&str>) {
        let config = self.cargo_home().join("config.toml");
        let text = std::fs::read_to_string(&config).expect("the cargo config exists");
        let text = text.replace(
            &format!("index = \"{}\"", server.index_url_of(registry)),
            &format!("index = \"{}\"", server.git_url_of(registry)),
        );
        std::fs::write(config, text).expect("the cargo config is written");
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).expect("HOME is created");
        let helper = match git_token {
            Some(token) => format!(
                "[credential]\n\thelper = \"!f() {{ echo username=cargo; echo password={token}; }}; f\"\n"
            ),
            None => String::new(),
        };
        std::fs::write(home.join(".gitconfig"), helper).expect("the git config is written");
        self.home = Some(home);
    }

    /// The `HOME` git reads its `.gitconfig` from, once [`Self::use_git_index`] made one.
    pub fn git_home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// Adds registry `name` pointing at another server's `main`, with that server's admin token.
    pub fn add_registry(&mut self, name: &str, server: &TestServer) {
        let config = self.cargo_home().join("config.toml");
        let mut text = std::fs::read_to_string(&config).expect("the cargo config exists");
        text.push_str(&format!(
            "\n[registries.{name}]\nindex = \"{}\"\n",
            server.index_url()
        ));
        std::fs::write(config, text).expect("the cargo config is written");
        self.others
            .push((name.to_owned(), server.admin_token.clone()));
    }

    /// Appends `text` to the sandbox's `config.toml` (source replacement, say).
    pub fn append_config(&self, text: &str) {
        let config = self.cargo_home().join("config.toml");
        let mut current = std::fs::read_to_string(&config).expect("the cargo config exists");
        current.push('\n');
        current.push_str(text);
        std::fs::write(config, current).expect("the cargo config is written");
    }

    /// The sandbox's `CARGO_HOME`.
    pub fn cargo_home(&self) -> PathBuf {
        self.dir.path().join("cargo-home")
    }

    /// A directory for packages and outputs of this sandbox.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a library package that may only be published to `test`.
    ///
    /// `extra_package` lines go into `[package]`; `rest` (dependency tables,
    /// features…) follows it. Rewriting the same name gives a new version.
    pub fn package(&self, name: &str, version: &str, extra_package: &str, rest: &str) -> PathBuf {
        self.package_for("test", name, version, extra_package, rest)
    }

    /// Like [`CargoSandbox::package`], for a package that may only be published to `registry`.
    pub fn package_for(
        &self,
        registry: &str,
        name: &str,
        version: &str,
        extra_package: &str,
        rest: &str,
    ) -> PathBuf {
        let dir = self.dir.path().join("packages").join(name);
        std::fs::create_dir_all(dir.join("src")).expect("the package directory is created");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
                 description = \"The {name} test package\"\nlicense = \"MIT\"\npublish = [\"{registry}\"]\n\
                 {extra_package}\n{rest}\n"
            ),
        )
        .expect("Cargo.toml is written");
        if !dir.join("src/main.rs").exists() {
            let lib = dir.join("src/lib.rs");
            if !lib.exists() {
                std::fs::write(lib, "").expect("lib.rs is written");
            }
        }
        dir
    }

    /// Writes a binary package for `test` whose `src/main.rs` is `main`; `rest` holds its dependencies.
    pub fn binary(&self, name: &str, version: &str, rest: &str, main: &str) -> PathBuf {
        let dir = self.package(name, version, "", rest);
        let _ = std::fs::remove_file(dir.join("src/lib.rs"));
        self.write(&dir, "src/main.rs", main);
        dir
    }

    /// Writes `contents` to `relative` inside a package directory.
    pub fn write(&self, package: &Path, relative: &str, contents: &str) {
        let path = package.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the directory is created");
        }
        std::fs::write(path, contents).expect("the file is written");
    }

    /// `cargo publish --registry test --no-verify` in `package`, asserting success.
    pub async fn publish(&self, package: &Path) {
        self.cargo(
            package,
            &[
                "publish",
                "--registry",
                "test",
                "--no-verify",
                "--allow-dirty",
            ],
        )
        .await
        .assert_success();
    }

    /// Runs `cargo <args>` in `dir` and returns its output, whatever the exit status.
    pub async fn cargo(&self, dir: &Path, args: &[&str]) -> CargoOutput {
        self.cargo_with_stdin(dir, args, None).await
    }

    /// Like [`CargoSandbox::cargo`], writing `stdin` to cargo's standard input.
    pub async fn cargo_with_stdin(
        &self,
        dir: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> CargoOutput {
        // Another toolchain's cargo can be tested with CARGOHOLD_TEST_CARGO; by default the
        // cargo running the tests (which sets CARGO) is the one under test.
        let cargo = std::env::var_os("CARGOHOLD_TEST_CARGO")
            .or_else(|| std::env::var_os("CARGO"))
            .unwrap_or_else(|| "cargo".into());
        let mut command = tokio::process::Command::new(cargo);
        command
            .args(args)
            .current_dir(dir)
            .env("CARGO_HOME", self.cargo_home())
            .env("CARGO_TARGET_DIR", self.dir.path().join("target"))
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            // What an outer `cargo test` leaks in must not reach the cargo under test.
            .env_remove("CARGO_REGISTRY_TOKEN")
            .env_remove("CARGO_REGISTRIES_TEST_TOKEN")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_MAKEFLAGS")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(token) = &self.token {
            command.env("CARGO_REGISTRIES_TEST_TOKEN", token);
        }
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(home) = &self.home {
            // rustup finds its toolchains through RUSTUP_HOME, which defaults to ~/.rustup.
            if std::env::var_os("RUSTUP_HOME").is_none()
                && let Some(real_home) = std::env::var_os("HOME")
            {
                command.env("RUSTUP_HOME", PathBuf::from(real_home).join(".rustup"));
            }
            command
                .env("HOME", home)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_TERMINAL_PROMPT", "0");
        }
        for (name, token) in &self.others {
            let var = format!(
                "CARGO_REGISTRIES_{}_TOKEN",
                name.to_uppercase().replace('-', "_")
            );
            command.env(var, token);
        }
        let mut child = command.spawn().expect("cargo starts");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut pipe = child.stdin.take().expect("a stdin pipe");
            pipe.write_all(input.as_bytes())
                .await
                .expect("stdin is written");
            drop(pipe);
        }
        let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
            .await
            .expect("cargo finished within 5 minutes")
            .expect("cargo ran");
        output.into()
    }
}
