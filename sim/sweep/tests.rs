use super::*;

fn parse(text: &str) -> Result<Spec, Error> {
    describe::parse(Path::new("test.ron"), text)
}

fn reason(text: &str) -> String {
    let spec = parse(text);
    match spec.and_then(|s| prepare(Path::new("test.ron"), &s, None)) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn h100() -> Sweep {
    let (path, spec) = presets()
        .unwrap()
        .into_iter()
        .find(|(p, _)| p.ends_with("h100-gpus-formats.ron"))
        .unwrap();
    prepare(&path, &spec, None).unwrap()
}

#[test]
fn shipped_sweeps_validate_and_resolve() {
    for (path, spec) in presets().unwrap() {
        let sweep = prepare(&path, &spec, None).unwrap();
        assert_eq!(sweep.jobs.len(), spec.points().len(), "{}", path.display());
        assert!(!sweep.jobs.is_empty());
    }
}

#[test]
fn grid_runs_in_spec_order_last_axis_fastest() {
    let rows = run(&h100(), &|| ());
    assert_eq!(rows.len(), 4 * 5 * 2);
    assert_eq!(
        (rows[0].format, rows[0].units, rows[0].batch),
        (Format::Q35, Some(1), 1)
    );
    assert_eq!((rows[1].units, rows[1].batch), (Some(1), 16));
    assert_eq!((rows[2].units, rows[2].batch), (Some(2), 1));
    assert_eq!(rows[10].format, Format::Int4G128);
    assert!(rows.iter().enumerate().all(|(i, r)| r.point == i));
    // The GPU baseline is timed wherever it fits, and something is on the front.
    assert!(
        rows.iter()
            .filter(|r| r.fits)
            .all(|r| r.tokens_per_s.is_some())
    );
    assert!(rows.iter().any(|r| r.pareto));
}

/// The rows of `sweep` run on a pool of `threads` threads.
fn on(sweep: &Sweep, threads: usize) -> Vec<Row> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| run(sweep, &|| ()))
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let sweep = h100();
    let (one, two) = (on(&sweep, 1), on(&sweep, 2));
    assert_eq!(one, two);
    assert_eq!(csv::to_csv(&one), csv::to_csv(&two));
}

#[test]
fn wse_results_do_not_depend_on_the_thread_count_or_reused_steps() {
    // stories260k uses one WSE-3 whatever it is given: the steps on 2 and 3 wafers are reused
    // from the one on 1 (machines::wse::memo) or simulated, depending on which thread ran first;
    // either way every number is the same.
    let spec = parse(
        r#"Sweep(arch: "cerebras-wse3", workload: "stories260k",
            grid: [Units([1, 2, 3]), Batch([1, 2])])"#,
    )
    .unwrap();
    let sweep = prepare(Path::new("t.ron"), &spec, None).unwrap();
    let (one, two) = (on(&sweep, 1), on(&sweep, 2));
    assert_eq!(one, two);
    assert_eq!(csv::to_csv(&one), csv::to_csv(&two));
    for r in &one[2..] {
        let first = &one[usize::from(r.batch == 2)];
        assert!(r.tokens_per_s.is_some());
        assert_eq!(r.tokens_per_s, first.tokens_per_s, "point {}", r.point);
    }
}

#[test]
fn a_failing_run_is_a_row_with_its_error_and_fit() {
    let spec = parse(
        r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", points: [[Units(576)], [Units(1)]])"#,
    )
    .unwrap();
    let rows = run(&prepare(Path::new("t.ron"), &spec, None).unwrap(), &|| ());
    assert!(rows[0].fits);
    assert!(!rows[1].fits);
    // Whether or not the TSP model has landed, each row carries either timing or an error.
    for r in &rows {
        assert!(r.error.is_some() || r.tokens_per_s.is_some() || !r.fits);
    }
}

#[test]
fn arch_overrides_land_in_the_right_field_and_are_validated() {
    let spec = parse(
        r#"Sweep(arch: "groq-tsp", workload: "llama2-70b",
            points: [[MemoryBytes(461373440), ClockHz(1e9), LinkBytesPerS(10e9)]])"#,
    )
    .unwrap();
    let job = &prepare(Path::new("t.ron"), &spec, None).unwrap().jobs[0];
    assert_eq!(memory_bytes(&job.arch), 461_373_440);
    assert_eq!(clock_hz(&job.arch), Some(1e9));
    assert_eq!(link_bytes_per_s(&job.arch), 10e9);
    let r = reason(
        r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", points: [[LinkBytesPerS(1e12)]])"#,
    );
    assert!(
        r.contains("points[0][0]") && r.contains("link_bytes_per_s"),
        "{r}"
    );
    let r =
        reason(r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", points: [[MemoryBytes(1000)]])"#);
    assert!(r.contains("whole number of addresses"), "{r}");
    let r = reason(r#"Sweep(arch: "nvidia-h100", workload: "llama2-70b", grid: [ClockHz([1e9])])"#);
    assert!(
        r.contains("grid[0].ClockHz[0]") && r.contains("no clock"),
        "{r}"
    );
    let r =
        reason(r#"Sweep(arch: "nvidia-h100", workload: "llama2-70b", grid: [Context([8192])])"#);
    assert!(
        r.contains("grid[0].Context[0]") && r.contains("max_context"),
        "{r}"
    );
}

#[test]
fn bad_specs_name_the_field_and_the_reason() {
    let cases = [
        (
            r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", grid: [Units([1])], colour: 1)"#,
            "test.ron:1:",
        ),
        (
            r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", grid: [Units([])])"#,
            "grid[0]`: empty axis",
        ),
        (
            r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", grid: [ClockHz([NaN])])"#,
            "grid[0].ClockHz[0]`: must be a finite number > 0, got NaN",
        ),
        (
            r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", grid: [Units([8, 0])])"#,
            "grid[0].Units[1]`: must be at least 1",
        ),
        (
            r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", grid: [Units([1]), Units([2])])"#,
            "`Units` is given twice",
        ),
        (
            r#"Sweep(arch: "groq-tsp", workload: "llama2-70b")"#,
            "non-empty `grid` or `points`",
        ),
        (
            r#"Sweep(arch: "tpu", workload: "llama2-70b", grid: [Units([1])])"#,
            "`tpu` is neither a shipped description",
        ),
        (
            r#"Sweep(arch: "groq-tsp", workload: "llama2-70b", grid: [Format(["q9"])])"#,
            "unknown format `q9`",
        ),
    ];
    for (text, expected) in cases {
        let r = reason(text);
        assert!(r.contains(expected), "{r}\nexpected: {expected}");
    }
    assert!(reason(cases[0].0).contains("colour"));
}

#[test]
fn csv_has_a_header_and_one_line_per_point() {
    let rows = run(&h100(), &|| ());
    let text = csv::to_csv(&rows);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), rows.len() + 1);
    assert_eq!(lines[0].split(',').count(), csv::COLUMNS.len());
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.split(',').count() == csv::COLUMNS.len())
    );
}

#[test]
fn a_journal_resumes_its_shard_and_rejects_rows_it_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h100.shard-1-of-3.jsonl");
    let sweep = h100();
    let shard = Shard { index: 1, count: 3 };
    let header = journal::Header::new("test".into(), sweep.fingerprint.clone(), 40, shard);
    let (j, done) = Journal::open(&path, &header).unwrap();
    assert!(done.is_empty());
    let all = run_shard(&sweep, shard, j, done, &|| ()).unwrap();
    assert_eq!(all.len(), 13);
    // Reopened, every point is done and nothing runs again.
    let (j, done) = Journal::open(&path, &header).unwrap();
    assert_eq!(done.len(), 13);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let again = run_shard(&sweep, shard, j, done, &|| {
        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!((again, ran.into_inner()), (all.clone(), 0));
    // The whole sweep's rows, point for point.
    let whole = run(&sweep, &|| ());
    for r in &all {
        assert_eq!(
            Row {
                pareto: false,
                ..whole[r.point].clone()
            },
            *r
        );
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let header_line = text.lines().next().unwrap();
    let row = |p: usize| {
        serde_json::to_string(&Row {
            point: p,
            ..all[0].clone()
        })
        .unwrap()
    };
    for (rows, expected) in [
        (vec![row(1), row(1)], "line 3: point 1 is recorded twice"),
        (vec![row(2)], "line 2: point 2 is not in shard 1/3"),
        (vec!["{}".to_owned()], "line 2: not a sweep row"),
    ] {
        std::fs::write(&path, format!("{header_line}\n{}\n", rows.join("\n"))).unwrap();
        let e = journal::read(&path).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }
}
