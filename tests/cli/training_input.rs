//! Bad training input and bad places to write a model: each refused with a clear message
//! naming the file (and line, where there is one), exit code 2, and no model file (nor a
//! temporary one) left behind. Rows with bad JSON, missing text or labels are in corpus.rs.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Trains on `data` into `out`; asserts exit 2 and returns stderr.
fn refused(data: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--data", arg(data), "--out", arg(out)];
    args.extend_from_slice(extra);
    attache(&args).fails(2).stderr
}

#[test]
fn empty_files_of_every_format_are_refused_naming_the_file() {
    let dir = tempdir();
    let d = dir.path();
    let out = d.join("m.attache");
    let empty_gz = write_gz(&d.join("e.jsonl.gz"), b"");
    let cases = [
        std::fs::File::create(d.join("e.jsonl")).map(|_| d.join("e.jsonl")),
        std::fs::File::create(d.join("e.csv")).map(|_| d.join("e.csv")),
        std::fs::File::create(d.join("e.ft")).map(|_| d.join("e.ft")),
        std::fs::write(d.join("header.csv"), "text,label\n").map(|_| d.join("header.csv")),
        Ok(empty_gz),
    ];
    let inputs = files_in(d);
    for path in cases {
        let path = path.unwrap();
        let err = refused(&path, &out, &[]);
        assert!(
            err.contains(&format!("{}: no documents", path.display())),
            "{err}"
        );
    }
    assert_eq!(files_in(d), inputs, "no model and no temporary file");
}

#[test]
fn a_csv_without_its_text_or_label_column_is_refused_at_the_header_line() {
    let dir = tempdir();
    let d = dir.path();
    let out = d.join("m.attache");
    let no_text = d.join("no-text.csv");
    std::fs::write(&no_text, "body,label\nsome words,a\n").unwrap();
    let err = refused(&no_text, &out, &[]);
    assert!(
        err.contains(&format!("{}:1: no column \"text\"", no_text.display())),
        "{err}"
    );
    let no_label = d.join("no-label.csv");
    std::fs::write(&no_label, "text,topic\nsome words,a\n").unwrap();
    let err = refused(&no_label, &out, &[]);
    assert!(
        err.contains(&format!("{}:1: no column \"label\"", no_label.display())),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_row_without_a_label_names_its_line_in_csv_and_fasttext() {
    let dir = tempdir();
    let d = dir.path();
    let out = d.join("m.attache");
    let csv = d.join("c.csv");
    std::fs::write(
        &csv,
        "text,label\ntariffs and quotas,trade\ntroops at the border,\n",
    )
    .unwrap();
    let err = refused(&csv, &out, &[]);
    assert!(
        err.contains(&format!("{}:3: empty label list", csv.display())),
        "{err}"
    );
    let ft = d.join("c.ft");
    std::fs::write(&ft, "__label__trade tariffs\n\ntroops at the border\n").unwrap();
    let err = refused(&ft, &out, &[]);
    assert!(
        err.contains(&format!("{}:3: missing labels", ft.display())),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_label_with_no_documents_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    let out = d.join("m.attache");
    // A directory per label, one of them empty.
    let root = d.join("bylabel");
    for (label, text) in [("trade", "tariffs and quotas"), ("security", "troops")] {
        std::fs::create_dir_all(root.join(label)).unwrap();
        std::fs::write(root.join(label).join("1.txt"), text).unwrap();
    }
    std::fs::create_dir_all(root.join("energy")).unwrap();
    let err = refused(&root, &out, &[]);
    assert!(
        err.contains(&format!(
            "{}: label \"energy\" has no documents",
            root.join("energy").display()
        )),
        "{err}"
    );
    // A label described in the config that the data does not have (a typo, say).
    let data = write_jsonl(&d.join("c.jsonl"), &toy());
    let config = d.join("c.toml");
    std::fs::write(
        &config,
        "[model]\nalpha = 0.5\n\n[labels]\ntrade = \"Trade\"\n\"enrgy\" = \"Energy\"\n",
    )
    .unwrap();
    let err = refused(&data, &out, &["--config", arg(&config)]);
    assert!(
        err.contains(&format!(
            "{}:6: [labels] describes \"enrgy\", which has no documents",
            config.display()
        )) && err.contains("energy, security, trade"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn training_into_an_unwritable_location_is_refused_before_reading_the_data() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("c.jsonl"), &toy());
    // Root ignores permissions, so: a path under a regular file, and a read-only file system.
    let under_file = data.join("m.attache");
    let err = refused(&data, &under_file, &[]);
    assert!(
        err.contains(&format!("{} is not a directory", data.display())),
        "{err}"
    );
    let err = refused(&data, Path::new("/proc/attache-test.attache"), &[]);
    assert!(err.contains("cannot write in /proc"), "{err}");
    assert_eq!(files_in(d), ["c.jsonl"]);
}

/// Runs `script` under `sh` with `$ATTACHE` set to the binary; (exit code, stdout, stderr).
fn sh(script: &str, wrap: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(wrap.first().copied().unwrap_or("sh"))
        .args(wrap.iter().skip(1))
        .args(if wrap.is_empty() { vec![] } else { vec!["sh"] })
        .args(["-c", script])
        .env("ATTACHE", env!("CARGO_BIN_EXE_attache"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn training_onto_a_full_disk_fails_cleanly_and_leaves_no_partial_file() {
    let dir = tempdir();
    let d = dir.path();
    let data = write_jsonl(&d.join("c.jsonl"), &toy());
    let out = d.join("m.attache");
    // A file size limit of zero: the first byte written fails (EFBIG), as on a full disk.
    // SIGXFSZ is ignored so the write fails instead of the process being killed.
    let script = format!(
        "ulimit -f 0 && trap '' XFSZ && exec \"$ATTACHE\" train --data '{}' --out '{}'",
        data.display(),
        out.display()
    );
    let (code, _, stderr) = sh(&script, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write {}", out.display())) && stderr.contains("large"),
        "{stderr}"
    );
    assert_eq!(files_in(d), ["c.jsonl"], "no model and no temporary file");

    // A real full file system (ENOSPC): a tiny tmpfs, filled up, in a private mount
    // namespace so nothing outlives the test. Needs root; skipped (and said) otherwise.
    let mnt = d.join("full");
    std::fs::create_dir(&mnt).unwrap();
    let m = mnt.display();
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs '{m}' || exit 77; \
         head -c 1048576 /dev/zero > '{m}/filler' 2>/dev/null; \
         \"$ATTACHE\" train --data '{}' --out '{m}/m.attache'; code=$?; \
         ls -A '{m}'; exit $code",
        data.display()
    );
    let (code, stdout, stderr) = sh(&script, &["unshare", "--mount"]);
    if code == Some(77) || stderr.contains("unshare:") {
        eprintln!("skipped the tmpfs half (cannot mount here): {stderr}");
        return;
    }
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(stdout.trim(), "filler", "no model and no temporary file");
}
