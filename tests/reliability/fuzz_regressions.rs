//! Inputs kept from fuzzing, replayed through the same harness the fuzz targets run:
//! `fuzz/regressions/<target>/<file>` for inputs that once crashed (or hung) a target, and
//! `fuzz/seeds/<target>/<file>` for the seeds the fuzzer starts from.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_kept_fuzz_input_runs_clean_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for kind in ["regressions", "seeds"] {
        for (target, run) in harness::TARGETS {
            let dir = root.join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            files.sort();
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let result = std::panic::catch_unwind(|| run(&data));
                assert!(result.is_ok(), "{} crashes {target}", file.display());
                replayed += 1;
            }
        }
    }
    harness::remove_scratch();
    assert!(replayed > 0, "no kept inputs under {}", root.display());
}

#[test]
fn every_fuzz_target_has_a_harness_and_a_seed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (target, _) in harness::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target} is not a fuzz target in fuzz/Cargo.toml"
        );
        assert!(root
            .join("fuzz_targets")
            .join(format!("{target}.rs"))
            .is_file());
        let seeds = std::fs::read_dir(root.join("seeds").join(target))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(seeds > 0, "no seed for {target}");
    }
}
