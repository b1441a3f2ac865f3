//! Where a `remoteRef.key` or `find.path` is read in Vault: ESO's `buildPath` and
//! `buildMetadataPath` (`client_get.go`, spec §7.3), then the Vault Go client's request path
//! (`path.Join(address path, "/v1/" + path)`, percent-encoded like Go's `url.URL`).
//!
//! These rules MUST match ESO exactly, quirks included: a key that starts with the mount is
//! stripped of it, and a leading `data/` after the mount is dropped for KV v2 (so a secret
//! literally named `data/x` under the mount cannot be read through the mount prefix).

/// The KV engine version of the store (`spec.provider.vault.version`, default `v2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kv {
    V1,
    V2,
}

/// ESO's `buildPath`: the logical path of a secret's data.
pub(super) fn build_path(mount: Option<&str>, kv: Kv, key: &str) -> String {
    if let Some(mount) = mount {
        let mut rest = key;
        if let Some(after_mount) = key.strip_prefix(&format!("{mount}/")) {
            rest = after_mount;
            if kv == Kv::V2 {
                rest = rest.strip_prefix("data/").unwrap_or(rest);
            }
        }
        return match kv {
            Kv::V2 => format!("{mount}/data/{rest}"),
            Kv::V1 => format!("{mount}/{rest}"),
        };
    }
    if kv == Kv::V2 && !key.contains("/data/") {
        // `data` goes after the first segment; a key with no `/` gets it appended.
        return match key.split_once('/') {
            Some((first, rest)) => format!("{first}/data/{rest}"),
            None => format!("{key}/data"),
        };
    }
    key.to_owned()
}

/// Why a metadata path cannot be built.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum MetadataPathError {
    /// KV v2 without a mount, and the key names no `data` segment (ESO's `errPathInvalid`).
    NotKv2,
    /// KV v1 without a mount (ESO dereferences the nil mount and panics).
    V1WithoutMount,
}

/// ESO's `buildMetadataPath`: the path of a secret's metadata (KV v2), or of the secret itself
/// (KV v1, which has no metadata).
pub(super) fn build_metadata_path(
    mount: Option<&str>,
    kv: Kv,
    key: &str,
) -> Result<String, MetadataPathError> {
    match (kv, mount) {
        (Kv::V1, Some(mount)) => Ok(format!("{mount}/{key}")),
        (Kv::V1, None) => Err(MetadataPathError::V1WithoutMount),
        (Kv::V2, Some(mount)) => Ok(format!("{mount}/metadata/{key}")),
        // ESO checks for `data` anywhere, then replaces the first `/data/` only.
        (Kv::V2, None) if key.contains("data") => Ok(key.replacen("/data/", "/metadata/", 1)),
        (Kv::V2, None) => Err(MetadataPathError::NotKv2),
    }
}

/// The escaped URL path of a logical path, as the Vault Go client sends it:
/// `path.Join(base, "/v1/" + logical)` (cleaned: no empty or `.` segments, `..` resolved, no
/// trailing slash), then escaped like Go's `url.URL.EscapedPath`.
pub(super) fn request_path(base: &str, logical: &str) -> String {
    let joined = if base.is_empty() {
        format!("/v1/{logical}")
    } else {
        format!("{base}//v1/{logical}")
    };
    escape_path(&clean(&joined))
}

/// Go's `path.Clean` for a rooted path.
fn clean(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    format!("/{}", kept.join("/"))
}

/// Go's `shouldEscape(c, encodePath)`: everything but unreserved characters and
/// `$ & + , / : ; = @` is percent-encoded.
fn escape_path(path: &str) -> String {
    escape(path, |b| {
        b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b)
    })
}

/// Go's `url.QueryEscape`: unreserved characters kept, space as `+`, the rest encoded.
pub(super) fn escape_query(value: &str) -> String {
    escape(value, |b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)).replace("%20", "+")
}

fn escape(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNT: Option<&str> = Some("secret/path");

    /// ESO's `TestGetSecretPath` table, then spec §7.3's examples and the edge cases.
    #[test]
    fn build_path_matches_eso() {
        let cases = [
            (
                MOUNT,
                Kv::V2,
                "secret/path/data/test",
                "secret/path/data/test",
            ),
            (MOUNT, Kv::V2, "secret/path/test", "secret/path/data/test"),
            (
                None,
                Kv::V2,
                "secret/test/big/path",
                "secret/data/test/big/path",
            ),
            (
                None,
                Kv::V2,
                "secret/test/data/not/the/first/and/data/twice",
                "secret/test/data/not/the/first/and/data/twice",
            ),
            (MOUNT, Kv::V1, "secret/path/test", "secret/path/test"),
            (None, Kv::V1, "secret/test", "secret/test"),
            (MOUNT, Kv::V2, "test", "secret/path/data/test"),
            (MOUNT, Kv::V1, "test", "secret/path/test"),
            // spec §7.3
            (Some("secret"), Kv::V2, "foo", "secret/data/foo"),
            (Some("secret"), Kv::V2, "secret/data/foo", "secret/data/foo"),
            (Some("secret"), Kv::V2, "secret/foo", "secret/data/foo"),
            (None, Kv::V2, "secret/path/foo", "secret/data/path/foo"),
            // KV v1 keeps a `data/` after the mount: it is part of the secret's name there.
            (Some("kv"), Kv::V1, "kv/data/foo", "kv/data/foo"),
            // `data/` is dropped only right after the mount, not when the key starts with it.
            (Some("secret"), Kv::V2, "data/foo", "secret/data/data/foo"),
            // A secret named like the mount (ESO's known bug, kept).
            (
                Some("secret"),
                Kv::V2,
                "secret/secret/x",
                "secret/data/secret/x",
            ),
            // A mount whose name contains `data` (#3116/#3851).
            (Some("mydata"), Kv::V2, "mydata/app", "mydata/data/app"),
            (None, Kv::V2, "mydata/app", "mydata/data/app"),
            // No mount, no `/`: `data` is appended.
            (None, Kv::V2, "foo", "foo/data"),
            // Leading slashes are kept here; the request path cleans them.
            (None, Kv::V2, "/secret/foo", "/data/secret/foo"),
            (Some("secret"), Kv::V2, "/foo", "secret/data//foo"),
            (
                Some("secret"),
                Kv::V2,
                "/secret/foo",
                "secret/data//secret/foo",
            ),
            (None, Kv::V1, "/secret/foo", "/secret/foo"),
            // `/data/` anywhere (not `data/` at the start) counts as already built.
            (None, Kv::V2, "data/foo", "data/data/foo"),
            (None, Kv::V2, "a/b/data/c", "a/b/data/c"),
        ];
        for (mount, kv, key, want) in cases {
            assert_eq!(build_path(mount, kv, key), want, "{mount:?} {kv:?} {key:?}");
        }
    }

    /// ESO's `TestGetSecretMetadataPath` table, then spec §7.3.
    #[test]
    fn build_metadata_path_matches_eso() {
        let ok = [
            (MOUNT, Kv::V1, "data/test", "secret/path/data/test"),
            (
                MOUNT,
                Kv::V2,
                "secret/path/data/test",
                "secret/path/metadata/secret/path/data/test",
            ),
            (None, Kv::V2, "my_data/data/path", "my_data/metadata/path"),
            (Some("secret"), Kv::V2, "foo", "secret/metadata/foo"),
            (Some("secret"), Kv::V2, "", "secret/metadata/"),
            (
                None,
                Kv::V2,
                "secret/data/a/data/b",
                "secret/metadata/a/data/b",
            ),
            // `data` as a substring passes the check, and nothing is replaced.
            (None, Kv::V2, "mydata/x", "mydata/x"),
        ];
        for (mount, kv, key, want) in ok {
            assert_eq!(build_metadata_path(mount, kv, key).as_deref(), Ok(want));
        }
        assert_eq!(
            build_metadata_path(None, Kv::V2, "secret/foo"),
            Err(MetadataPathError::NotKv2)
        );
        assert_eq!(
            build_metadata_path(None, Kv::V2, ""),
            Err(MetadataPathError::NotKv2)
        );
        assert_eq!(
            build_metadata_path(None, Kv::V1, "secret/foo"),
            Err(MetadataPathError::V1WithoutMount)
        );
    }

    #[test]
    fn request_path_is_go_path_join_then_escaped() {
        assert_eq!(request_path("", "secret/data/foo"), "/v1/secret/data/foo");
        assert_eq!(request_path("", "/data/secret/foo"), "/v1/data/secret/foo");
        assert_eq!(request_path("", "secret/data//foo"), "/v1/secret/data/foo");
        assert_eq!(
            request_path("", "secret/metadata/app/"),
            "/v1/secret/metadata/app"
        );
        assert_eq!(
            request_path("", "secret/data/./a/../b"),
            "/v1/secret/data/b"
        );
        assert_eq!(request_path("", "../../sys/x"), "/sys/x");
        assert_eq!(
            request_path("/vault/", "secret/data/a"),
            "/vault/v1/secret/data/a"
        );
        assert_eq!(
            request_path("", "secret/data/a b?c#d%e!f*'()\u{e9}"),
            "/v1/secret/data/a%20b%3Fc%23d%25e%21f%2A%27%28%29%C3%A9"
        );
        assert_eq!(
            request_path("", "secret/data/k$&+,:;=@~-_."),
            "/v1/secret/data/k$&+,:;=@~-_."
        );
    }

    #[test]
    fn query_values_are_go_query_escaped() {
        assert_eq!(escape_query("3"), "3");
        assert_eq!(escape_query("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
