//! Every way a publish can be refused: a clear 4xx in cargo's envelope, and nothing stored.

use cargohold_test_support::fixture::{EntryKind, TarEntry, publish_body};
use cargohold_test_support::{CrateFixture, TestServer};

async fn publish_ok(server: &TestServer, fixture: &CrateFixture) {
    let response = server.publish(fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn the_same_version_twice_is_rejected() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("twice", "1.0.0");
    publish_ok(&server, &fixture).await;
    server
        .assert_publish_rejected(
            fixture.publish_body(),
            &server.admin_token,
            400,
            "already uploaded",
        )
        .await;
}

#[tokio::test]
async fn a_build_metadata_variant_of_an_existing_version_is_rejected() {
    let server = TestServer::start().await;
    publish_ok(&server, &CrateFixture::new("meta", "1.0.0")).await;
    let other = CrateFixture::new("meta", "1.0.0+other");
    server
        .assert_publish_rejected(
            other.publish_body(),
            &server.admin_token,
            400,
            "`meta@1.0.0` is already uploaded",
        )
        .await;
}

#[tokio::test]
async fn a_name_differing_only_in_case_or_separator_is_rejected() {
    let server = TestServer::start().await;
    publish_ok(&server, &CrateFixture::new("foo-bar", "1.0.0")).await;
    for spelling in ["Foo-Bar", "foo_bar", "FOO_BAR"] {
        let fixture = CrateFixture::new(spelling, "2.0.0");
        server
            .assert_publish_rejected(
                fixture.publish_body(),
                &server.admin_token,
                400,
                "previously named `foo-bar`",
            )
            .await;
    }
}

#[tokio::test]
async fn a_publish_by_someone_who_is_not_an_owner_is_forbidden() {
    let server = TestServer::start().await;
    publish_ok(&server, &CrateFixture::new("guarded", "1.0.0")).await;
    let mallory = server.create_user("mallory").await;
    let fixture = CrateFixture::new("guarded", "1.0.1");
    server
        .assert_publish_rejected(
            fixture.publish_body(),
            &mallory,
            403,
            "not one of its owners",
        )
        .await;
}

#[tokio::test]
async fn a_truncated_body_is_rejected() {
    let server = TestServer::start().await;
    let body = CrateFixture::new("cut", "1.0.0").publish_body();
    server
        .assert_publish_rejected(
            body[..body.len() - 10].to_vec(),
            &server.admin_token,
            400,
            "cut short",
        )
        .await;
    server
        .assert_publish_rejected(body[..3].to_vec(), &server.admin_token, 400, "length")
        .await;
}

#[tokio::test]
async fn lengths_that_disagree_with_the_body_are_rejected() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("lengths", "1.0.0");
    let mut trailing = fixture.publish_body();
    trailing.extend_from_slice(b"extra");
    server
        .assert_publish_rejected(trailing, &server.admin_token, 400, "do not add up")
        .await;

    let json = serde_json::to_vec(&fixture.metadata()).unwrap();
    let mut wrong_json_length = publish_body(&json, &fixture.tarball());
    wrong_json_length[..4].copy_from_slice(&((json.len() + 7) as u32).to_le_bytes());
    server
        .assert_publish_rejected(wrong_json_length, &server.admin_token, 400, "")
        .await;
}

#[tokio::test]
async fn metadata_or_crate_over_the_limits_is_too_large() {
    let server = TestServer::start_with(|config| {
        config.limits.max_metadata_size = 2048;
        config.limits.max_crate_size = 4096;
    })
    .await;
    let mut big_metadata = CrateFixture::new("bigmeta", "1.0.0");
    big_metadata.description = "x".repeat(4000);
    server
        .assert_publish_rejected(
            big_metadata.publish_body(),
            &server.admin_token,
            413,
            "metadata",
        )
        .await;

    let mut big_crate = CrateFixture::new("bigcrate", "1.0.0");
    // Random-looking data does not compress, so the .crate stays over the limit.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    big_crate
        .extra_entries
        .push(TarEntry::file("bigcrate-1.0.0/noise.bin", noise));
    assert!(big_crate.tarball().len() > 4096);
    server
        .assert_publish_rejected(big_crate.publish_body(), &server.admin_token, 413, "")
        .await;
}

#[tokio::test]
async fn a_body_far_over_the_limit_is_refused_before_it_is_read() {
    let server = TestServer::start_with(|config| {
        config.limits.max_metadata_size = 1024;
        config.limits.max_crate_size = 1024;
    })
    .await;
    server
        .assert_publish_rejected(
            vec![0u8; 64 * 1024],
            &server.admin_token,
            413,
            "larger than",
        )
        .await;
}

#[tokio::test]
async fn a_crate_that_is_not_gzip_is_rejected() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("plain", "1.0.0");
    let json = serde_json::to_vec(&fixture.metadata()).unwrap();
    server
        .assert_publish_rejected(
            publish_body(&json, b"PK\x03\x04 not a gzip file"),
            &server.admin_token,
            400,
            "not gzip",
        )
        .await;
}

#[tokio::test]
async fn tarballs_escaping_their_directory_are_rejected() {
    let server = TestServer::start().await;
    let cases: Vec<(TarEntry, &str)> = vec![
        (
            TarEntry::file("evil-1.0.0/../escape.rs", "x"),
            "plain relative path",
        ),
        (TarEntry::file("/etc/cron.d/evil", "x"), "outside of"),
        (
            TarEntry::special("evil-1.0.0/link", EntryKind::Symlink),
            "symlink",
        ),
        (
            TarEntry::special("evil-1.0.0/hard", EntryKind::HardLink),
            "hard link",
        ),
        (TarEntry::file("other-1.0.0/src/lib.rs", "x"), "outside of"),
        (TarEntry::file("evil-1.0.0.extra/lib.rs", "x"), "outside of"),
    ];
    for (entry, needle) in cases {
        let mut fixture = CrateFixture::new("evil", "1.0.0");
        fixture.extra_entries.push(entry);
        server
            .assert_publish_rejected(fixture.publish_body(), &server.admin_token, 400, needle)
            .await;
    }
}

#[tokio::test]
async fn a_manifest_that_disagrees_with_the_metadata_is_rejected() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("honest", "1.0.0");

    let mut other_name = fixture.clone();
    other_name.manifest = Some(
        fixture
            .manifest_text()
            .replace("name = \"honest\"", "name = \"liar\""),
    );
    server
        .assert_publish_rejected(
            other_name.publish_body(),
            &server.admin_token,
            400,
            "Cargo.toml names it `liar`",
        )
        .await;

    let mut other_version = fixture.clone();
    other_version.manifest = Some(
        fixture
            .manifest_text()
            .replace("version = \"1.0.0\"", "version = \"6.6.6\""),
    );
    server
        .assert_publish_rejected(
            other_version.publish_body(),
            &server.admin_token,
            400,
            "Cargo.toml gives `6.6.6`",
        )
        .await;

    let sneaky_dep = fixture.clone().dep("hidden", "1");
    let mut manifest_only = fixture.clone();
    manifest_only.manifest = Some(sneaky_dep.manifest_text());
    server
        .assert_publish_rejected(
            manifest_only.publish_body(),
            &server.admin_token,
            400,
            "dependencies differ",
        )
        .await;
}

#[tokio::test]
async fn invalid_crate_names_are_rejected() {
    let server = TestServer::start().await;
    let long = "a".repeat(65);
    let cases = [
        ("caf\u{e9}", "only ASCII letters"),
        ("9lives", "must start with an ASCII letter"),
        (long.as_str(), "longer than 64"),
        ("std", "reserved"),
        ("nul", "reserved"),
        ("Proc-Macro", "reserved"),
    ];
    for (name, needle) in cases {
        let fixture = CrateFixture::new(name, "1.0.0");
        server
            .assert_publish_rejected(fixture.publish_body(), &server.admin_token, 400, needle)
            .await;
    }
}

#[tokio::test]
async fn invalid_versions_are_rejected() {
    let server = TestServer::start().await;
    for version in ["1.0", "v1.0.0", "1.0.0-", "01.2.3", "latest"] {
        let fixture = CrateFixture::new("versioned", version);
        server
            .assert_publish_rejected(
                fixture.publish_body(),
                &server.admin_token,
                400,
                "semantic version",
            )
            .await;
    }
}

#[tokio::test]
async fn features_naming_unknown_dependencies_are_rejected() {
    let server = TestServer::start().await;
    let cases: [(&[&str], &str); 4] = [
        (&["dep:ghost"], "not listed as a dependency"),
        (&["ghost/std"], "is not a dependency"),
        (&["ghost?/std"], "is not a dependency"),
        (&["ghost"], "neither a dependency nor another feature"),
    ];
    for (values, needle) in cases {
        let fixture = CrateFixture::new("featured", "1.0.0").feature("broken", values);
        server
            .assert_publish_rejected(fixture.publish_body(), &server.admin_token, 400, needle)
            .await;
    }
}

#[tokio::test]
async fn a_dependency_on_a_crate_this_registry_does_not_have_is_rejected() {
    let server = TestServer::start().await;
    publish_ok(&server, &CrateFixture::new("real-dep", "1.0.0")).await;
    let missing = CrateFixture::new("needy", "1.0.0").dep("imaginary", "1");
    server
        .assert_publish_rejected(
            missing.publish_body(),
            &server.admin_token,
            400,
            "no known crate named `imaginary`",
        )
        .await;
    let misspelled = CrateFixture::new("needy", "1.0.0").dep("real_dep", "1");
    server
        .assert_publish_rejected(
            misspelled.publish_body(),
            &server.admin_token,
            400,
            "did you mean `real-dep`",
        )
        .await;
}

#[tokio::test]
async fn metadata_that_is_not_json_is_rejected() {
    let server = TestServer::start().await;
    let tarball = CrateFixture::new("x", "1.0.0").tarball();
    server
        .assert_publish_rejected(
            publish_body(b"{not json", &tarball),
            &server.admin_token,
            400,
            "not valid JSON",
        )
        .await;
}

#[tokio::test]
async fn a_public_crate_depending_on_a_private_registrys_crate_is_refused_and_nothing_stored() {
    use cargohold::config::RegistryConfig;
    use cargohold_test_support::fixture::DepRegistry;

    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig {
                auth_required: true,
                ..RegistryConfig::local("private")
            },
        ];
    })
    .await;
    let private_index = format!("sparse+{}", server.url("registries/private/index/"));
    let response = server
        .publish_to("private", &CrateFixture::new("acme-core", "0.2.0"))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // However the manifest spells this instance (cargo users write `localhost` too).
    let port = server.address().port();
    for url in [
        private_index.clone(),
        format!("sparse+http://localhost:{port}/registries/private/index/"),
        format!("http://127.0.0.1:{port}/registries/private/git"),
    ] {
        let leaky = CrateFixture::new("leaky", "1.0.0").dep_from(
            "acme-core",
            "0.2",
            DepRegistry::Other(url.clone()),
        );
        let before = server.stored_state().await;
        let response = server.publish_to("main", &leaky).await;
        assert_eq!(response.status(), 400, "{url}");
        let detail = cargohold_test_support::error_detail(&response.text().await.unwrap()).unwrap();
        assert!(
            detail.contains(
                "`leaky` would be readable by anyone in `main`, but it depends on `acme-core` from the private registry `private`"
            ) && detail.contains("publish `leaky` to `private` instead"),
            "{detail}"
        );
        assert_eq!(server.stored_state().await, before, "{url}");
    }

    // The same crate is welcome in the private registry, and a public crate may
    // depend on other public registries.
    let leaky = CrateFixture::new("leaky", "1.0.0").dep_from(
        "acme-core",
        "0.2",
        DepRegistry::Other(private_index),
    );
    let response = server.publish_to("private", &leaky).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let open = CrateFixture::new("open", "1.0.0").dep_from(
        "leaky",
        "1",
        DepRegistry::Other("sparse+https://other.example/index/".into()),
    );
    let response = server.publish_to("main", &open).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}
