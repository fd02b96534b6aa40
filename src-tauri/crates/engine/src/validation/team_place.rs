//! R22: where a team stack's state lives — an S3 bucket as AWS names one,
//! and a prefix of key segments in it.

use super::{check_region, FieldErrors};

/// R22: an S3 bucket name as AWS accepts one for general purpose buckets:
/// 3–63 characters of lowercase letters, digits, hyphens and dots, starting
/// and ending with a letter or digit, no two dots together, not an IP
/// address, and none of the prefixes and suffixes S3 keeps for itself.
pub fn check_bucket_name(field: &str, bucket: &str, errors: &mut FieldErrors) {
    let chars_ok = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = bucket
        .chars()
        .next()
        .zip(bucket.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    let looks_like_ip = bucket.split('.').count() == 4
        && bucket
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let reserved = ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| bucket.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| bucket.ends_with(s));
    if bucket.is_empty() {
        errors.add(field, "Bucket is required.");
    } else if !(3..=63).contains(&bucket.len()) || !chars_ok || !ends_ok {
        errors.add(
            field,
            "A bucket name has 3 to 63 characters: lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit.",
        );
    } else if bucket.contains("..") || looks_like_ip || reserved {
        errors.add(
            field,
            "S3 does not allow this bucket name (two dots together, an IP address, or a prefix or suffix S3 keeps for itself).",
        );
    }
}

/// The longest team prefix: S3 keys are at most 1,024 bytes, and the team's
/// own names under the prefix take up to about 300.
pub const MAX_TEAM_PREFIX_BYTES: usize = 512;

/// R22: where a team stack's state lives. The prefix is a path of S3 key
/// segments (letters, digits, `-`, `_`, `.`), no leading or trailing slash.
pub fn check_team_place(place: &crate::domain::TeamPlace, errors: &mut FieldErrors) {
    check_bucket_name("team.bucket", &place.bucket, errors);
    let prefix = &place.prefix;
    let segment_ok = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if prefix.is_empty() {
        errors.add("team.prefix", "Prefix is required.");
    } else if prefix.len() > MAX_TEAM_PREFIX_BYTES || !prefix.split('/').all(segment_ok) {
        errors.add(
            "team.prefix",
            format!("A prefix is a path such as stageline/shop: segments of letters, digits, hyphens, underscores and dots, separated by single slashes, with no slash at either end (at most {MAX_TEAM_PREFIX_BYTES} characters)."),
        );
    }
    check_region("team.region", &place.region, errors);
}
