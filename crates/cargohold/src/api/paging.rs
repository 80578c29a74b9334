//! `page` and `per_page` of the listing endpoints, checked: an out-of-range or
//! non-numeric value is a 400 that says what is allowed, as crates.io answers,
//! rather than a deserializer's message or a silent clamp.

use serde::Deserialize;

use crate::error::{AppError, AppResult};

/// The paging part of a listing's query string, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub page: Option<String>,
    pub per_page: Option<String>,
}

impl PageParams {
    /// The page (from 1) and its size, `default_per_page` when none was asked for.
    pub fn check(&self, default_per_page: i64, max_per_page: i64) -> AppResult<(i64, i64)> {
        let page = match &self.page {
            None => 1,
            Some(text) => whole_number(text)
                .filter(|&n| n >= 1)
                .ok_or_else(|| bad("page", text, "a whole number from 1 (pages count from 1)"))?,
        };
        let per_page = match &self.per_page {
            None => default_per_page,
            Some(text) => whole_number(text)
                .filter(|n| (1..=max_per_page).contains(n))
                .ok_or_else(|| {
                    bad(
                        "per_page",
                        text,
                        &format!("a whole number from 1 to {max_per_page}"),
                    )
                })?,
        };
        Ok((page, per_page))
    }
}

fn whole_number(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

fn bad(name: &str, text: &str, allowed: &str) -> AppError {
    let shown: String = text.chars().take(40).collect();
    AppError::BadRequest(format!(
        "`{name}` must be {allowed}; got `{}`",
        shown.escape_debug()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(page: Option<&str>, per_page: Option<&str>) -> PageParams {
        PageParams {
            page: page.map(Into::into),
            per_page: per_page.map(Into::into),
        }
    }

    #[test]
    fn absent_values_take_the_defaults() {
        assert_eq!(params(None, None).check(10, 100).unwrap(), (1, 10));
        assert_eq!(
            params(Some("3"), Some("100")).check(10, 100).unwrap(),
            (3, 100)
        );
    }

    #[test]
    fn out_of_range_and_non_numbers_are_refused_with_what_is_allowed() {
        for (page, per_page, named, allowed) in [
            (Some("0"), None, "`page`", "from 1"),
            (Some("-1"), None, "`page`", "from 1"),
            (Some("two"), None, "`page`", "from 1"),
            (None, Some("lots"), "`per_page`", "from 1 to 100"),
            (None, Some("0"), "`per_page`", "from 1 to 100"),
            (None, Some("101"), "`per_page`", "from 1 to 100"),
            (None, Some("1.5"), "`per_page`", "from 1 to 100"),
        ] {
            let AppError::BadRequest(message) = params(page, per_page).check(10, 100).unwrap_err()
            else {
                panic!("not a 400 for {page:?} {per_page:?}");
            };
            assert!(
                message.contains(named) && message.contains(allowed),
                "{message}"
            );
        }
    }
}
