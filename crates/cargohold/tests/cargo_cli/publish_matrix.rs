//! A crate using nearly everything a manifest can say is published by cargo and used by cargo.

use cargohold_protocol::{DependencyKind, IndexEntry};
use cargohold_test_support::{CargoSandbox, TestServer};

const HELPER_LIB: &str = r#"pub fn helper() -> u32 { 1 }
#[cfg(feature = "extra")]
pub fn extra() -> u32 { 2 }
#[cfg(feature = "fancy")]
pub fn fancy() -> u32 { 3 }
"#;

const MATRIX_PACKAGE: &str = r#"rust-version = "1.70"
links = "matrix"
build = "build.rs"
readme = "README.md"
keywords = ["matrix", "testing"]"#;

const MATRIX_TABLES: &str = r#"
[dependencies]
helper_alias = { package = "helper-lib", version = "0.1", registry = "test", optional = true, default-features = false, features = ["extra"] }

[target.'cfg(unix)'.dependencies]
unix-only = { version = "0.1", registry = "test" }

[build-dependencies]
build-helper = { version = "0.1", registry = "test" }

[dev-dependencies]
dev-helper = { version = "0.1", registry = "test" }
local-dev = { path = "local-dev" }

[features]
default = ["std"]
std = []
helpers = ["dep:helper_alias"]
fancy = ["helper_alias?/fancy"]
"#;

const MATRIX_LIB: &str = r#"pub fn answer() -> u32 { env!("MATRIX_ANSWER").parse().unwrap() }
#[cfg(unix)]
pub fn unix() -> u32 { unix_only::unix() }
#[cfg(feature = "helpers")]
pub fn helped() -> u32 { helper_alias::helper() + helper_alias::extra() }
#[cfg(all(feature = "helpers", feature = "fancy"))]
pub fn fancy() -> u32 { helper_alias::fancy() }
"#;

#[tokio::test]
async fn a_crate_using_every_manifest_feature_is_published_resolved_fetched_and_built() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);

    let helper = cargo.package(
        "helper-lib",
        "0.1.0",
        "",
        "[features]\nextra = []\nfancy = []",
    );
    cargo.write(&helper, "src/lib.rs", HELPER_LIB);
    cargo.publish(&helper).await;
    for (name, body) in [
        ("unix-only", "pub fn unix() -> u32 { 4 }\n"),
        ("build-helper", "pub fn answer() -> u32 { 42 }\n"),
        ("dev-helper", "pub fn dev() {}\n"),
    ] {
        let package = cargo.package(name, "0.1.0", "", "");
        cargo.write(&package, "src/lib.rs", body);
        cargo.publish(&package).await;
    }

    let matrix = cargo.package(
        "Matrix_Crate",
        "1.2.3+build.7",
        MATRIX_PACKAGE,
        MATRIX_TABLES,
    );
    cargo.write(&matrix, "src/lib.rs", MATRIX_LIB);
    cargo.write(
        &matrix,
        "build.rs",
        "fn main() { println!(\"cargo:rustc-env=MATRIX_ANSWER={}\", build_helper::answer()); }\n",
    );
    cargo.write(&matrix, "README.md", "# Matrix\n\nEverything at once.\n");
    cargo.write(
        &matrix,
        "local-dev/Cargo.toml",
        "[package]\nname = \"local-dev\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n",
    );
    cargo.write(&matrix, "local-dev/src/lib.rs", "");
    cargo.publish(&matrix).await;

    // What the registry derived from the .crate, checked field by field.
    let (status, index) = server.index_file("Matrix_Crate").await;
    assert_eq!(status, 200);
    let entry: IndexEntry = serde_json::from_str(index.trim()).unwrap();
    assert_eq!(entry.name, "Matrix_Crate");
    assert_eq!(entry.vers, "1.2.3+build.7");
    assert_eq!(entry.links.as_deref(), Some("matrix"));
    assert_eq!(entry.rust_version.as_deref(), Some("1.70"));
    assert_eq!(entry.v, Some(2));
    let features2 = entry.features2.as_ref().unwrap();
    assert_eq!(features2["helpers"], ["dep:helper_alias"]);
    assert_eq!(features2["fancy"], ["helper_alias?/fancy"]);
    assert_eq!(entry.features["default"], ["std"]);
    let dep = |name: &str| {
        entry
            .deps
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no dependency {name} in {index}"))
    };
    let alias = dep("helper_alias");
    assert_eq!(alias.package.as_deref(), Some("helper-lib"));
    assert!(alias.optional && !alias.default_features);
    assert_eq!(alias.features, ["extra"]);
    assert_eq!(alias.req, "^0.1");
    assert_eq!(alias.registry, None);
    assert_eq!(dep("unix-only").target.as_deref(), Some("cfg(unix)"));
    assert_eq!(dep("build-helper").kind, DependencyKind::Build);
    assert_eq!(dep("dev-helper").kind, DependencyKind::Dev);
    assert!(
        entry.deps.iter().all(|d| d.name != "local-dev"),
        "path-only dev-dependencies are stripped"
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM versions WHERE readme LIKE '# Matrix%'")
            .await,
        1,
        "the README is kept"
    );

    // A consumer resolves, fetches and builds it, enabling the optional and weak features.
    let app = cargo.binary("consumer", "0.1.0", "[dependencies]\nMatrix_Crate = { version = \"1.2.3\", registry = \"test\", features = [\"helpers\", \"fancy\"] }\n", "#![allow(non_snake_case)]\nfn main() { println!(\"sum={}\", Matrix_Crate::answer() + Matrix_Crate::helped() + Matrix_Crate::fancy() + Matrix_Crate::unix()); }\n");
    cargo
        .cargo(&app, &["generate-lockfile"])
        .await
        .assert_success();
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"Matrix_Crate\"\nversion = \"1.2.3+build.7\""),
        "{lock}"
    );
    assert!(lock.contains("name = \"helper-lib\""), "{lock}");
    assert!(
        !lock.contains("dev-helper"),
        "dev-dependencies of a dependency are not resolved: {lock}"
    );
    cargo.cargo(&app, &["fetch"]).await.assert_success();
    let run = cargo.cargo(&app, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(
        run.stdout.trim(),
        "sum=52",
        "42 from the build script, 1+2 and 3 from the renamed dependency, 4 from the target one"
    );
}

/// Runs `git` in `dir`, asserting success.
fn git(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[tokio::test]
async fn a_readme_published_from_git_links_and_shows_images_from_its_repository() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let package = cargo.package(
        "linked-readme",
        "0.1.0",
        "readme = \"docs/README.md\"\nrepository = \"https://github.com/acme/tools.git\"",
        "",
    );
    cargo.write(
        &package,
        "docs/README.md",
        "# Linked\n\nSee [the guide](guide.md#start) and [the licence](/LICENSE).\n\n\
         ![diagram](img/flow.png)\n\n[Usage](#readme-linked)\n",
    );
    // Packaged from a repository whose root is the sandbox's package directory,
    // so cargo records `path_in_vcs = "linked-readme"`.
    let root = package.parent().unwrap();
    git(root, &["init", "-q"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    cargo.publish(&package).await;

    let page = server
        .get("registries/main/crates/linked-readme")
        .await
        .text()
        .await
        .unwrap();
    let blob = "https://github.com/acme/tools/blob/HEAD/";
    for expected in [
        format!("href=\"{blob}linked-readme/docs/guide.md#start\""),
        format!("href=\"{blob}LICENSE\""),
        "src=\"https://github.com/acme/tools/raw/HEAD/linked-readme/docs/img/flow.png\"".to_owned(),
        "href=\"#readme-linked\"".to_owned(),
    ] {
        assert!(page.contains(&expected), "{expected} missing from {page}");
    }
}

#[tokio::test]
async fn a_readme_on_a_self_hosted_forge_named_in_the_configuration_links_into_it() {
    let server = TestServer::start_with(|config| {
        config.forges.insert(
            "git.example.com".to_owned(),
            cargohold::config::ForgeKind::Gitea,
        );
    })
    .await;
    let cargo = CargoSandbox::new(&server);
    let mut packages = Vec::new();
    for (name, repository) in [
        ("forge-readme", "https://git.example.com/team/tools"),
        (
            "unknown-forge-readme",
            "https://code.example.org/team/tools",
        ),
    ] {
        let package = cargo.package(
            name,
            "0.1.0",
            &format!("readme = \"README.md\"\nrepository = \"{repository}\""),
            "",
        );
        cargo.write(
            &package,
            "README.md",
            "# Tools\n\nSee [the guide](docs/guide.md) and ![the logo](logo.png).\n",
        );
        packages.push(package);
    }
    let root = packages[0].parent().unwrap();
    git(root, &["init", "-q"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    for package in &packages {
        cargo.publish(package).await;
    }

    let page = |name: &'static str| {
        let server = &server;
        async move {
            let path = format!("registries/main/crates/{name}");
            server.get(&path).await.text().await.unwrap()
        }
    };
    let known = page("forge-readme").await;
    let base = "https://git.example.com/team/tools";
    for expected in [
        format!("href=\"{base}/src/branch/HEAD/forge-readme/docs/guide.md\""),
        format!("src=\"{base}/raw/branch/HEAD/forge-readme/logo.png\""),
    ] {
        assert!(known.contains(&expected), "{expected} missing from {known}");
    }
    // A forge nobody named: the links keep their text and lose their targets.
    let unknown = page("unknown-forge-readme").await;
    assert!(unknown.contains(">the guide</a>"), "{unknown}");
    assert!(!unknown.contains("docs/guide.md"), "{unknown}");
    assert!(!unknown.contains("logo.png"), "{unknown}");
}
