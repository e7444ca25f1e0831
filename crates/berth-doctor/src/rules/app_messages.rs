//! Known application messages behind a crash loop, read from its last log lines, where the
//! log says more precisely what is wrong than the exit code does:
//!
//! - `postgres-lost-found`: Postgres `initdb` refuses a data directory that is the root of a
//!   volume, because the filesystem put `lost+found` there (EBS, PD, Azure Disk); the fix is a
//!   `subPath` mount (or `PGDATA` in a subdirectory).
//! - `missing-bucket`: the application's object-store bucket does not exist (S3 `NoSuchBucket`,
//!   MinIO "The specified bucket does not exist"); nothing in Kubernetes will create it.

pub(crate) const ID_PGDATA: &str = "postgres-lost-found";
pub(crate) const ID_BUCKET: &str = "missing-bucket";

/// What a log says, when berth recognises it.
pub(crate) struct Recognised {
    pub id: &'static str,
    pub cause: String,
    pub fix: String,
    /// The log lines that say it (one, or the error and its detail).
    pub lines: Vec<String>,
    /// Where the fix goes, relative to the container (`/volumeMounts`), if anywhere.
    pub pointer: &'static str,
}

/// The first known message in `lines`.
pub(crate) fn recognise(container: &str, lines: &[String]) -> Option<Recognised> {
    let all = lines.join("\n");
    if all.contains("lost+found")
        && (all.contains("initdb") || all.contains("PGDATA") || all.contains("postgres"))
    {
        // The error (`initdb: error: directory ... exists but is not empty`) and the line
        // naming `lost+found` (its detail), when they differ.
        let error = lines
            .iter()
            .find(|l| l.contains("initdb") && l.contains("error"));
        let detail = lines.iter().find(|l| l.contains("lost+found"));
        let quoted: Vec<String> = error
            .into_iter()
            .chain(detail.filter(|d| Some(*d) != error))
            .cloned()
            .collect();
        return Some(Recognised {
            id: ID_PGDATA,
            cause: format!(
                "container `{container}`: Postgres initdb refuses its data directory because the volume root holds `lost+found`"
            ),
            fix: "mount the data volume with `subPath:` (e.g. `subPath: pgdata`) or set PGDATA to a subdirectory of the mount; if the data directory belongs to another user, add an init container that chowns it".into(),
            lines: quoted,
            pointer: "/volumeMounts",
        });
    }
    let bucket_markers = [
        "NoSuchBucket",
        "The specified bucket does not exist",
        "bucket does not exist",
        "Bucket not found",
    ];
    if let Some(line) = lines
        .iter()
        .find(|l| bucket_markers.iter().any(|m| l.contains(m)))
    {
        let name = bucket_name(line);
        let what = name
            .map(|n| format!("bucket `{n}`"))
            .unwrap_or_else(|| "its object-store bucket".into());
        return Some(Recognised {
            id: ID_BUCKET,
            cause: format!("container `{container}` cannot start: {what} does not exist"),
            fix: format!(
                "create {what} in the object store before this component starts (a Job in an earlier component, or the store's own bucket setup), or point the application at an existing bucket"
            ),
            lines: vec![line.clone()],
            pointer: "/env",
        });
    }
    None
}

/// A bucket name quoted in a log line (`bucket "models"`, `bucket: orders`, `BucketName: x`).
fn bucket_name(line: &str) -> Option<String> {
    let lower = line.to_lowercase();
    for marker in ["bucketname:", "bucket name:", "bucket:", "bucket "] {
        for (i, _) in lower.match_indices(marker) {
            // `NoSuchBucket:` is not `bucket:`.
            if lower[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            {
                continue;
            }
            let rest = line[i + marker.len()..].trim_start();
            let name: String = rest
                .trim_start_matches(['"', '\'', '`', '='])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.' || *c == '_')
                .collect();
            if !name.is_empty()
                && !["does", "not", "the", "is", "was"].contains(&name.to_lowercase().as_str())
            {
                return Some(name);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn postgres_lost_found() {
        let log = lines(
            "The files belonging to this database system will be owned by user \"postgres\".\n\
             initdb: error: directory \"/var/lib/postgresql/data\" exists but is not empty\n\
             initdb: detail: It contains a lost+found directory, perhaps due to it being a mount point.\n\
             initdb: hint: Using a mount point directly as the data directory is not recommended.",
        );
        let r = recognise("postgres", &log).unwrap();
        assert_eq!(r.id, ID_PGDATA);
        assert_eq!(r.lines.len(), 2, "{:?}", r.lines);
        assert!(r.lines[0].starts_with("initdb: error"));
        assert!(r.lines[1].contains("lost+found"));
    }

    #[test]
    fn missing_bucket() {
        let log = lines(
            "time=\"2026-11-21T09:00:00Z\" level=fatal msg=\"failed to start\" error=\"NoSuchBucket: The specified bucket does not exist, bucket: models\"",
        );
        let r = recognise("sensor", &log).unwrap();
        assert_eq!(r.id, ID_BUCKET);
        assert!(r.cause.contains("`models`"), "{}", r.cause);
    }

    #[test]
    fn ordinary_errors_are_not_recognised() {
        assert!(recognise("web", &lines("panic: connection refused")).is_none());
    }
}
