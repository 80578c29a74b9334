//! JSON bodies of the web API (`api.rs`): what clients send (`PUT`/`DELETE` owners,
//! the publish metadata) and what cargohold answers and reads back (`config.json`,
//! errors, owners, search, uploads). The first byte chooses the type.
#![no_main]

use cargohold_protocol::api::{
    ConfigJson, ErrorBody, OkResponse, OwnersRequest, OwnersResponse, PublishResponse,
    SearchResponse, UploadResponse,
};
use cargohold_protocol::publish::PublishMetadata;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A body that reads is written back into one that reads as the same value.
fn round_trip<T>(json: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let Ok(value) = serde_json::from_slice::<T>(json) else {
        return;
    };
    let written = serde_json::to_string(&value).expect("a read body is written");
    assert_eq!(
        serde_json::from_str::<T>(&written).ok().as_ref(),
        Some(&value),
        "{written}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 9 {
        0 => {
            // api/owners.rs: crates.io's `owners` is accepted for `users`.
            if let Ok(request) = serde_json::from_slice::<OwnersRequest>(json) {
                let written = serde_json::to_string(&request).unwrap();
                assert_eq!(
                    serde_json::from_str::<OwnersRequest>(&written).unwrap(),
                    request
                );
            }
        }
        1 => round_trip::<ConfigJson>(json),
        2 => round_trip::<ErrorBody>(json),
        3 => round_trip::<OkResponse>(json),
        4 => round_trip::<OwnersResponse>(json),
        5 => round_trip::<PublishResponse>(json),
        6 => round_trip::<SearchResponse>(json),
        7 => round_trip::<UploadResponse>(json),
        _ => {
            // api/publish.rs reads the metadata through parse_publish_body; it only reads.
            let _ = serde_json::from_slice::<PublishMetadata>(json);
        }
    }
});
