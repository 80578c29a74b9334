//! Index lines as the server reads them back: its own stored lines (yank, the
//! crate pages, `check`) and the lines of an upstream registry that a proxy
//! stores and shows. Each line of the input is read as an `IndexEntry`.
#![no_main]

use cargohold_protocol::index::IndexEntry;
use cargohold_protocol::validate::{EntryLimits, validate_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<IndexEntry>(line) else {
            continue;
        };
        // Written again, the line reads back as the same entry, and is then stable byte for byte.
        let written = entry.to_line();
        assert!(!written.contains(['\n', '\r']));
        let back: IndexEntry = serde_json::from_str(&written).expect("a written line reads back");
        assert_eq!(back, entry);
        assert_eq!(back.to_line(), written);

        // ops/yank.rs: yanking and unyanking change `yanked` and nothing else.
        let mut yanked: IndexEntry = serde_json::from_str(&written).unwrap();
        yanked.yanked = !entry.yanked;
        let yanked_line = yanked.to_line();
        let mut restored: IndexEntry = serde_json::from_str(&yanked_line).unwrap();
        restored.yanked = entry.yanked;
        assert_eq!(restored.to_line(), written);

        // The features2 split keeps every feature, and splitting again changes nothing.
        let all = entry.all_features();
        let mut split = entry.clone();
        split.split_features(all.clone());
        assert_eq!(split.all_features(), all);
        let mut again = split.clone();
        again.split_features(split.all_features());
        assert_eq!(again, split);

        let mut sorted = entry.clone();
        sorted.sort_dependencies();
        let mut twice = sorted.clone();
        twice.sort_dependencies();
        assert_eq!(twice, sorted);

        let _ = validate_entry(&entry, &EntryLimits::default());
        let tight = EntryLimits {
            max_dependencies: 2,
            max_features: 2,
            max_feature_values: 2,
        };
        if validate_entry(&entry, &tight).is_ok() {
            assert!(entry.deps.len() <= 2 && all.len() <= 2);
            assert!(all.values().all(|values| values.len() <= 2));
            assert!(validate_entry(&entry, &EntryLimits::default()).is_ok());
        }
    }
});
