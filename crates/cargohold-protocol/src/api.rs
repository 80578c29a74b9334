//! JSON bodies of cargo's web API and of `config.json`, as cargo 1.95 reads them.

use serde::{Deserialize, Serialize};

/// `config.json` at the root of a sparse index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigJson {
    /// Download URL template (`{crate}`, `{version}`, … markers).
    pub dl: String,
    /// Base of the web API, without a trailing slash.
    pub api: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
}

/// The error envelope cargo prints: `{"errors":[{"detail":"…"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub errors: Vec<ErrorDetail>,
}

/// One message in an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub detail: String,
}

impl ErrorBody {
    /// An envelope holding one message.
    pub fn single(detail: impl Into<String>) -> Self {
        Self {
            errors: vec![ErrorDetail {
                detail: detail.into(),
            }],
        }
    }
}

/// The answer to yank, unyank and owner changes. Cargo asserts `ok` and, for
/// owner changes, prints `msg` (which cargo 1.95 requires there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OkResponse {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

/// The answer to a publish: warnings cargo prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    pub warnings: PublishWarnings,
}

/// Warnings cargo shows after a successful publish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishWarnings {
    pub invalid_categories: Vec<String>,
    pub invalid_badges: Vec<String>,
    pub other: Vec<String>,
}

/// `GET …/owners`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnersResponse {
    pub users: Vec<Owner>,
}

/// One owner; cargo requires `id` (a u32) and `login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub id: u32,
    pub login: String,
    pub name: Option<String>,
}

/// The body of `PUT` and `DELETE …/owners`; crates.io also accepts `owners`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnersRequest {
    #[serde(alias = "owners")]
    pub users: Vec<String>,
}

/// `GET /api/v1/crates?q=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResponse {
    pub crates: Vec<SearchCrate>,
    pub meta: SearchMeta,
}

/// One search hit; cargo prints `name = "max_version"  # description`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCrate {
    pub name: String,
    pub max_version: String,
    pub description: Option<String>,
}

/// How many crates matched in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchMeta {
    pub total: u64,
}

/// The answer to a `.crate` uploaded at its download URL: what is now stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    pub ok: bool,
    pub name: String,
    pub vers: String,
    pub cksum: String,
    /// The upload created the crate.
    pub new_crate: bool,
    /// These exact bytes were already there; nothing changed.
    pub already_present: bool,
    /// The index line the version is served with.
    pub index_line: crate::IndexEntry,
    /// What the uploader should know (the upload hides an upstream crate, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
