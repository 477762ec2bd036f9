//! Retention: a save beyond the policy prunes the oldest versions in its own commit, a
//! prune applies the policy (or a default) later, and the pruned chain still verifies
//! — while a further version removed or rewritten is still reported.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use memory_fs_file::{
    ChainFault, Clock, Content, File, FileId, FileRecord, FileSpec, FileType, FixedClock,
    PathHandler, Retention, chain_hash, content_hash,
};
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;
use serde_json::{Value, json};

/// 2026-11-24 18:00:00 UTC.
const NOW: i64 = 1_795_543_200_000;
const HOUR: i64 = 3_600_000;

fn clock(ms: i64) -> Arc<dyn Clock> {
    Arc::new(FixedClock(ms))
}

fn key(k: &str) -> SafePath {
    SafePath::new(k).expect("key")
}

fn last(n: u32) -> Retention {
    Retention::keep_last(NonZeroU32::new(n).expect("n > 0"))
}

fn spec() -> FileSpec {
    FileSpec::new(FileId::new("doc").expect("id"), FileType::json())
        .handlers([PathHandler::versioned().with_prefix("hist")])
}

/// `doc` saved `n` times, an hour apart (save `i` at `NOW + i` hours), with `spec`.
fn saved(s: &Arc<MemoryStorage>, spec: &FileSpec, n: u32) -> File {
    let mut file = None;
    for i in 1..=n {
        file = Some(
            File::save_with_clock(
                s.clone(),
                clock(NOW + i64::from(i) * HOUR),
                spec,
                Content::Json(&json!({ "v": i })),
            )
            .expect("save"),
        );
    }
    file.expect("at least one save")
}

fn reopen(s: &Arc<MemoryStorage>, at: i64) -> File {
    File::open(s.clone(), &FileId::new("doc").expect("id"))
        .expect("open")
        .expect("exists")
        .with_clock(clock(at))
}

fn faults(s: &Arc<MemoryStorage>) -> Vec<(u32, ChainFault)> {
    reopen(s, NOW)
        .verify_chain()
        .expect("verify")
        .into_iter()
        .map(|p| (p.version, p.fault))
        .collect()
}

/// The version folders with any key left in the store.
fn stored_versions(s: &MemoryStorage) -> Vec<String> {
    let mut folders: Vec<String> = s
        .files_paths(Some(&key("hist")))
        .expect("list")
        .iter()
        .map(|k| k.as_str().split('/').nth(1).unwrap_or_default().to_owned())
        .collect();
    folders.sort_by_key(|f| f[1..].parse::<u32>().unwrap_or(0));
    folders.dedup();
    folders
}

fn record(s: &MemoryStorage) -> FileRecord {
    let k = key(".memory-fs/files/doc");
    let bytes = s.file_bytes(&k).expect("read").expect("record");
    FileRecord::from_bytes(k.as_str(), &bytes).expect("record")
}

fn put_record(s: &MemoryStorage, r: &FileRecord) {
    s.file_save(&key(".memory-fs/files/doc"), &r.to_bytes())
        .expect("write");
}

fn metadata(s: &MemoryStorage, n: u32) -> Value {
    let bytes = s
        .file_bytes(&key(&format!("hist/v{n}/doc.json.metadata")))
        .expect("read")
        .expect("metadata");
    serde_json::from_slice(&bytes).expect("json")
}

#[test]
fn a_save_beyond_keep_last_prunes_the_oldest_in_its_commit() {
    let s = Arc::new(MemoryStorage::new());
    let file = saved(&s, &spec().with_retention(last(3)), 6);
    assert_eq!(file.versions(), [4, 5, 6]);
    assert_eq!(stored_versions(&s), ["v4", "v5", "v6"], "the keys went too");
    assert_eq!(file.retention(), Some(&last(3)), "kept in the record");
    let anchor = record(&s)
        .versions
        .expect("versions")
        .pruned
        .expect("anchor");
    assert_eq!(anchor.through, 3);
    let v4 = s
        .file_bytes(&key("hist/v4/doc.json"))
        .expect("read")
        .expect("v4");
    assert_eq!(
        metadata(&s, 4)["chain_hash"],
        json!(chain_hash(Some(&anchor.chain_hash), &v4)),
        "v4 continues the anchor's chain hash"
    );
    assert_eq!(faults(&s), [], "a pruned history verifies clean");
    // The policy is the file's: a save without one keeps applying it.
    let file = saved_once(&s, &spec(), 7);
    assert_eq!(file.versions(), [5, 6, 7]);
    assert_eq!(faults(&s), []);
    // The first kept version still names the one it follows.
    assert_eq!(
        metadata(&s, 5)["previous_version_path"],
        json!("hist/v4/doc.json")
    );
}

fn saved_once(s: &Arc<MemoryStorage>, spec: &FileSpec, i: u32) -> File {
    File::save_with_clock(
        s.clone(),
        clock(NOW + i64::from(i) * HOUR),
        spec,
        Content::Json(&json!({ "v": i })),
    )
    .expect("save")
}

#[test]
fn the_anchor_is_the_chain_hash_the_first_kept_version_continues() {
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec(), 5);
    let v2_chain = metadata(&s, 2)["chain_hash"]
        .as_str()
        .expect("chain")
        .to_owned();
    let pruned = reopen(&s, NOW).prune(Some(&last(3))).expect("prune");
    assert_eq!((pruned.removed, pruned.kept), (vec![1, 2], vec![3, 4, 5]));
    assert_eq!(
        pruned.keys.len(),
        6,
        "content, config and metadata of two versions"
    );
    let anchor = record(&s)
        .versions
        .expect("versions")
        .pruned
        .expect("anchor");
    assert_eq!((anchor.through, anchor.chain_hash), (2, v2_chain));
    assert_eq!(faults(&s), []);
}

#[test]
fn keep_within_prunes_by_age_and_keeps_the_newest() {
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec(), 5); // saved at NOW + 1h … NOW + 5h
    let recent = Retention::keep_within(Duration::from_secs(3 * 3600));
    // At NOW + 6h the versions saved before NOW + 3h (v1, v2) are older than 3 hours.
    let plan = reopen(&s, NOW + 6 * HOUR)
        .would_prune(Some(&recent))
        .expect("plan");
    assert_eq!(plan.removed, [1, 2]);
    assert_eq!(stored_versions(&s).len(), 5, "a dry run writes nothing");
    // Much later everything is old, but the newest version stays.
    let pruned = reopen(&s, NOW + 100 * HOUR)
        .prune(Some(&recent))
        .expect("prune");
    assert_eq!((pruned.removed, pruned.kept), (vec![1, 2, 3, 4], vec![5]));
    assert_eq!(faults(&s), []);
}

#[test]
fn either_rule_keeps_a_version() {
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec(), 6);
    let policy = last(2).and_keep_within(Duration::from_secs(4 * 3600 + 1));
    // At NOW + 7h: v3..v6 are newer than 4 hours; keep_last alone would keep v5, v6.
    let pruned = reopen(&s, NOW + 7 * HOUR)
        .prune(Some(&policy))
        .expect("prune");
    assert_eq!(pruned.removed, [1, 2]);
    assert_eq!(faults(&s), []);
}

#[test]
fn the_files_own_policy_wins_over_a_default() {
    let s = Arc::new(MemoryStorage::new());
    let file = saved(&s, &spec(), 4)
        .set_retention(Some(last(3)))
        .expect("set");
    assert_eq!(
        file.versions(),
        [1, 2, 3, 4],
        "setting a policy removes nothing"
    );
    let pruned = reopen(&s, NOW).prune(Some(&last(1))).expect("prune");
    assert_eq!(pruned.removed, [1], "the file's own policy keeps three");
    assert_eq!(pruned.policy, Some(last(3)));
    // Without any policy nothing goes.
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec(), 3);
    let pruned = reopen(&s, NOW).prune(None).expect("prune");
    assert_eq!((pruned.policy, pruned.removed), (None, vec![]));
}

#[test]
fn a_default_on_the_spec_prunes_without_being_kept() {
    let s = Arc::new(MemoryStorage::new());
    let file = saved(&s, &spec().with_default_retention(last(2)), 4);
    assert_eq!(file.versions(), [3, 4]);
    assert_eq!(file.retention(), None, "a default is not the file's own");
    let file = saved_once(&s, &spec(), 5);
    assert_eq!(
        file.versions(),
        [3, 4, 5],
        "without the default nothing goes"
    );
    // A File given a default applies it to its resaves and restores.
    let file = file.with_default_retention(Some(last(2)));
    let file = file.restore(3).expect("restore");
    assert_eq!(file.versions(), [5, 6]);
    assert_eq!(
        file.load_json().expect("load"),
        Some(json!({"v": 3})),
        "the restored bytes are the pruned version's"
    );
    assert_eq!(faults(&s), []);
}

#[test]
fn a_further_version_removed_after_a_prune_is_reported() {
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec().with_retention(last(3)), 5); // v3, v4, v5; anchor through v2
    // The first kept version removed, keys and record entry both.
    for k in ["doc.json", "doc.json.metadata", "doc.json.config"] {
        s.file_delete(&key(&format!("hist/v3/{k}")))
            .expect("delete");
    }
    let mut r = record(&s);
    if let Some(v) = &mut r.versions {
        v.numbers.retain(|n| *n != 3);
    }
    put_record(&s, &r);
    let problems = reopen(&s, NOW).verify_chain().expect("verify");
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.version, p.fault))
            .collect::<Vec<_>>(),
        [(4, ChainFault::Missing)],
        "{problems:?}"
    );
    assert!(
        problems[0].detail.contains("follows v3") && problems[0].detail.contains("through v2"),
        "{}",
        problems[0]
    );
}

#[test]
fn a_tampered_anchor_or_first_kept_version_breaks_the_chain() {
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec().with_retention(last(3)), 5);
    // The anchor rewritten.
    let good = record(&s);
    let mut r = good.clone();
    if let Some(a) = r.versions.as_mut().and_then(|v| v.pruned.as_mut()) {
        a.chain_hash = "0".repeat(64);
    }
    put_record(&s, &r);
    assert_eq!(faults(&s), [(3, ChainFault::Broken)]);
    put_record(&s, &good);
    // The first kept version rewritten with consistent, freshly computed hashes that
    // start a chain of their own.
    let content = b"{\"v\": 30}";
    s.file_save(&key("hist/v3/doc.json"), content)
        .expect("tamper");
    let mut m = metadata(&s, 3);
    m["content__hash"] = json!(content_hash(content));
    m["content__size"] = json!(content.len());
    m["chain_hash"] = json!(chain_hash(None, content));
    s.file_save(
        &key("hist/v3/doc.json.metadata"),
        serde_json::to_string(&m).expect("json").as_bytes(),
    )
    .expect("tamper");
    let found = faults(&s);
    assert!(found.contains(&(3, ChainFault::Broken)), "{found:?}");
    assert!(found.contains(&(4, ChainFault::Broken)), "{found:?}");
}

#[test]
fn a_middle_version_altered_after_a_prune_is_reported() {
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec().with_retention(last(3)), 6);
    s.file_save(&key("hist/v5/doc.json"), b"{\"v\": 50}")
        .expect("tamper");
    assert_eq!(faults(&s), [(5, ChainFault::Altered)]);
}

#[test]
fn a_version_with_unreadable_metadata_stops_the_prune() {
    let s = Arc::new(MemoryStorage::new());
    saved(&s, &spec(), 5);
    s.file_save(&key("hist/v2/doc.json.metadata"), b"not json")
        .expect("damage");
    let pruned = reopen(&s, NOW).prune(Some(&last(1))).expect("prune");
    assert_eq!(pruned.removed, [1], "v2 and after are kept");
    let why = pruned.stopped.expect("a reason");
    assert!(why.contains("v2"), "{why}");
    // What is left reports the damaged version, not the prune.
    assert_eq!(faults(&s), [(2, ChainFault::Altered)]);
}

#[test]
fn a_last_save_outside_the_versions_is_never_pruned_into() {
    // latest + versioned: the head is in both `latest` and the newest version.
    let s = Arc::new(MemoryStorage::new());
    let spec = FileSpec::new(FileId::new("doc").expect("id"), FileType::json())
        .handlers([
            PathHandler::latest(),
            PathHandler::versioned().with_prefix("hist"),
        ])
        .with_retention(last(1));
    let file = saved(&s, &spec, 3);
    assert_eq!(file.versions(), [3]);
    assert_eq!(file.load_json().expect("load"), Some(json!({"v": 3})));
    assert!(file.verify().expect("verify").is_empty());
    assert_eq!(faults(&s), []);
}

#[test]
fn a_streamed_save_prunes_like_any_other() {
    let s = Arc::new(MemoryStorage::new());
    let spec = FileSpec::new(FileId::new("doc").expect("id"), FileType::binary())
        .handlers([PathHandler::versioned().with_prefix("hist")])
        .with_retention(last(2));
    let mut file = None;
    for i in 0..4u8 {
        let bytes = vec![i; 1000];
        file = Some(
            File::save_from(s.clone(), clock(NOW), &spec, &mut bytes.as_slice()).expect("save"),
        );
    }
    let file = file.expect("saved");
    assert_eq!(file.versions(), [3, 4]);
    assert_eq!(file.load_bytes().expect("load"), Some(vec![3; 1000]));
    assert_eq!(faults(&s), []);
}
