//! `/registries/{registry}/git/…`: the git index over git's smart HTTP, by
//! handing each request to `git http-backend` (git's own CGI program), so cargo's
//! libgit2 and the `git` binary both get the protocol from git itself.
//!
//! Read-only: `git-receive-pack` (push) is refused before git is started. For a
//! private registry, git asks for credentials (HTTP basic): the password is a
//! cargohold token, held to the same rules as cargo's `Authorization` header.

use std::path::Path as FsPath;
use std::process::Stdio;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::io::ReaderStream;

use crate::app::AppState;
use crate::error::AppError;
use crate::{access, auth};

/// The largest request body taken (a fetch's list of wants and haves).
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// The most header bytes accepted from `git http-backend` before its body.
const MAX_CGI_HEADERS: usize = 16 * 1024;

/// `GET|POST /registries/{registry}/git/{path}`.
pub async fn serve(
    State(app): State<AppState>,
    Path((registry, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    match answer(&app, &registry, &path, request).await {
        Ok(response) => response,
        Err(err) => git_error(err, &registry),
    }
}

async fn answer(
    app: &AppState,
    registry: &str,
    path: &str,
    request: Request,
) -> Result<Response, AppError> {
    let registry = app.registry(registry)?;
    let Some(git) = &registry.git else {
        return Err(AppError::NotFound(format!(
            "registry `{}` has no git index; use the sparse index {}",
            registry.name, registry.index_url
        )));
    };
    let query = request.uri().query().unwrap_or_default().to_owned();
    if path == "git-receive-pack" || query.contains("service=git-receive-pack") {
        return Err(AppError::Forbidden(
            "the git index is read-only: it follows the registry; publish with `cargo publish`"
                .into(),
        ));
    }
    if !is_git_path(path) {
        return Err(AppError::NotFound(format!(
            "no such file in the git index: `{}`",
            path.escape_debug()
        )));
    }
    let headers = request.headers();
    let client = auth::client_addr(app, headers, request.extensions());
    if registry.auth_required {
        let token = git_token(headers);
        access::require_read_with(app, registry, token.as_deref(), client).await?;
    }
    let root = git
        .dir
        .parent()
        .context("the git index lives in a directory")?;
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{}.git/{path}", registry.name))
        .env("REQUEST_METHOD", request.method().as_str())
        .env("QUERY_STRING", &query);
    if let Some(client) = client {
        command.env("REMOTE_ADDR", client.to_string());
    }
    for (name, variable) in [
        (header::CONTENT_TYPE, "CONTENT_TYPE"),
        (header::CONTENT_ENCODING, "HTTP_CONTENT_ENCODING"),
        (HeaderName::from_static("git-protocol"), "GIT_PROTOCOL"),
    ] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            command.env(variable, value);
        }
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_REQUEST)
        .await
        .map_err(|_| {
            AppError::PayloadTooLarge(format!(
                "a git request body may hold at most {MAX_REQUEST} bytes"
            ))
        })?;
    run_backend(command, body, &registry.name).await
}

/// Whether `path` (decoded) can name something `git http-backend` serves: segments
/// of ASCII letters, digits, `.`, `_` and `-` (`info/refs`, `objects/pack/pack-….idx`),
/// none of them `.` or `..`. Anything else (traversal, a NUL that could not even be
/// passed to the CGI, Unicode, backslashes) is refused before git is started.
fn is_git_path(path: &str) -> bool {
    path.len() <= 256
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// Runs `git http-backend` on `body` and turns its CGI answer into a response
/// whose body streams from the process.
async fn run_backend(
    mut command: tokio::process::Command,
    body: bytes::Bytes,
    registry: &str,
) -> Result<Response, AppError> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run `git http-backend`; is git installed on the server?")?;
    let mut stdin = child.stdin.take().context("git's stdin")?;
    tokio::spawn(async move {
        // git may answer without reading everything (a bad request); that is no error here.
        let _ = stdin.write_all(&body).await;
    });
    let mut stdout = BufReader::new(child.stdout.take().context("git's stdout")?);
    let mut stderr = child.stderr.take().context("git's stderr")?;
    let registry = registry.to_owned();
    tokio::spawn(async move {
        let mut errors = String::new();
        let _ = stderr.read_to_string(&mut errors).await;
        match child.wait().await {
            Ok(status) if status.success() && errors.trim().is_empty() => {}
            Ok(status) => tracing::warn!(
                registry = %registry,
                %status,
                stderr = %errors.trim(),
                "git http-backend reported a problem"
            ),
            Err(err) => tracing::warn!(error = %err, "could not wait for git http-backend"),
        }
    });

    let mut status = StatusCode::OK;
    let mut response_headers = HeaderMap::new();
    let mut seen = 0;
    loop {
        let mut line = String::new();
        let read = stdout
            .read_line(&mut line)
            .await
            .context("cannot read git http-backend's answer")?;
        seen += read;
        if read == 0 || seen > MAX_CGI_HEADERS {
            return Err(anyhow::anyhow!("git http-backend ended its answer early").into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value
                .get(..3)
                .and_then(|code| code.parse().ok())
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
        } else if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::from_str(value),
        ) {
            response_headers.append(name, value);
        }
    }
    let mut response = Response::new(Body::from_stream(ReaderStream::new(stdout)));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    Ok(response)
}

/// The token a git client sends: the password of HTTP basic authentication (or
/// the user name when the password is empty), else cargo's own header format.
fn git_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return auth::presented_token(headers).map(str::to_owned);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return auth::presented_token(headers).map(str::to_owned);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    let token = if password.is_empty() { user } else { password };
    (!token.is_empty()).then(|| token.to_owned())
}

/// An error as git clients understand it: a status and a line of text; a 401
/// carries the basic challenge that makes git ask its credential helpers.
fn git_error(err: AppError, registry: &str) -> Response {
    let unauthorized = matches!(
        err,
        AppError::Unauthorized(_) | AppError::AuthRequired { .. }
    );
    if !unauthorized {
        return err.into_response();
    }
    let message = format!(
        "{err}\nGit asks for a user name and password: any user name, and a cargohold token with read access as the password.\n"
    );
    let challenge = format!("Basic realm=\"cargohold registry {registry}\", charset=\"UTF-8\"");
    let mut response = (StatusCode::UNAUTHORIZED, message).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Checks that git can serve: `git http-backend` must exist where the server runs.
pub fn check_git_installed(dir: &FsPath) -> anyhow::Result<()> {
    let output = std::process::Command::new("git")
        .arg("--version")
        .output()
        .with_context(|| {
            format!(
                "the git index at {} needs the `git` program, which was not found; install git or set `git-index = false`",
                dir.display()
            )
        })?;
    anyhow::ensure!(output.status.success(), "`git --version` failed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_git_path;

    #[test]
    fn only_plain_git_paths_reach_the_backend() {
        for path in [
            "info/refs",
            "HEAD",
            "git-upload-pack",
            "objects/info/packs",
            "objects/ab/cdef0123456789abcdef0123456789abcdef01",
            "objects/pack/pack-0123456789abcdef0123456789abcdef01234567.idx",
        ] {
            assert!(is_git_path(path), "{path}");
        }
        for path in [
            "",
            "/info/refs",
            "info//refs",
            "..",
            "../secret",
            "info/../../secret",
            ".",
            "info\\refs",
            "a\0b",
            "info/refs\n",
            "info/ref\u{ff0e}",
            "HEAD+",
            "~",
        ] {
            assert!(!is_git_path(path), "{path:?}");
        }
        assert!(!is_git_path(&"a".repeat(300)));
    }
}
