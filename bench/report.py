#!/usr/bin/env python3
"""Tables of BENCHMARKS.md from the raw results of bench/run.sh (standard library only).

  report.py corpus-stats CORPUS_DIR            one JSON object: documents and MB of text
  report.py select OUT CORPUS "GRID KEYS"      the attache setting cross-validation picks
  report.py render OUT BENCHMARKS.md           writes the tables between the bench markers

Selection uses the cross-validation figures on the training data only (accuracy for
single-label corpora, micro-F1 for multi-label ones; macro-F1 breaks ties): never the test set.
"""
import gzip, json, os, re, statistics, sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

GRID_LABELS = {
    "mnb": "multinomial, unigrams, α=1 (defaults)",
    "mnb-all": "multinomial, unigrams, all words, α=1 (as CountVectorizer)",
    "mnb-bi-all": "multinomial, 1–2-grams (min df 2), all words, α=0.1",
    "cnb": "complement, log tf, unigrams, α=0.3",
    "cnb-bi": "complement, log tf, 1–2-grams (min df 2), α=0.3",
    "cnb-bi-all": "complement, log tf, 1–2-grams (min df 2), all words, α=0.3",
    "cnb-bi-all-a1": "complement, log tf, 1–2-grams (min df 2), all words, α=1",
    "tw-bi-all": "complement, log tf·idf, L2, 1–2-grams (min df 2), all words, α=0.3",
    "tw-bi-all-a01": "complement, log tf·idf, L2, 1–2-grams (min df 2), all words, α=0.1",
}
PEER_LABELS = {
    "sklearn-mnb": "CountVectorizer + MultinomialNB",
    "sklearn-mnb-bigram": "CountVectorizer(1,2) + MultinomialNB(α=0.1)",
    "sklearn-cnb-tfidf": "TF-IDF(1,2) + ComplementNB(α=0.3)",
    "fasttext": "fastText, defaults (5 epochs)",
    "fasttext-tuned": "fastText, 25 epochs, lr 1.0",
    "fasttext-tuned-bigram": "fastText, 25 epochs, lr 1.0, bigrams",
    "vw": "Vowpal Wabbit --oaa, one pass",
    "vw-bigram": "Vowpal Wabbit --oaa --ngram 2",
}
SKLEARN_NB = ["sklearn-mnb", "sklearn-mnb-bigram", "sklearn-cnb-tfidf"]
PUBLISHED = {
    "20newsgroups-bydate": [
        ("multinomial NB", "accuracy 0.848", "Rennie et al. 2003"),
        ("transformed-weight complement NB (TWCNB)", "accuracy 0.861", "Rennie et al. 2003"),
        ("linear SVM", "accuracy 0.862", "Rennie et al. 2003"),
    ],
    "reuters21578-apte90": [
        ("NB", "micro-F1 0.7956", "Yang & Liu 1999"),
        ("linear SVM", "micro-F1 0.8599", "Yang & Liu 1999"),
        ("TWCNB / SVM", "micro P/R break-even 0.844 / 0.887 (not F1)", "Rennie et al. 2003"),
    ],
}
ACC_ORDER = ["20newsgroups-bydate", "reuters21578-apte90", "reuters21578-apte90-first", "reuters-r8",
             "reuters-r52", "bbc-news", "whitehouse-briefing-room"]
# Corpora bench/run.sh derives for the run, and what they are.
CORPUS_NOTES = {
    "reuters21578-apte90-first": "reuters21578-apte90 with each document's first label only (built by "
    "bench/run.sh in its temporary directory `$TMP`): the data as offline.py's peers see it, since they "
    "train and score single-label models on first labels. Here attache trains on the same labels, so its "
    "accuracy compares like for like with theirs.",
}
SERVER_LABELS = {
    "attache": "attache",
    "mlserver-w1": "MLServer, stock (1 worker process)",
    "mlserver-w0": "MLServer, --workers 0",
}
LOADS = [("unary-c1", "unary, c=1"), ("unary-c16", "unary, c=16"), ("unary-c64", "unary, c=64"),
         ("batch64-c4", "batch of 64, c=4"), ("stream-c16", "stream, c=16, 1 in flight"),
         ("stream-c4x16", "stream, c=4, 16 in flight")]


# ------------------------------------------------------------------------------------ reading
class Runs:
    def __init__(self, out):
        self.out = out
        self.dir = os.path.join(out, "runs")
        self.cmds = []  # commands referenced by the current table

    def path(self, name, ext):
        return os.path.join(self.dir, f"{name}.{ext}")

    def ok(self, name):
        return not os.path.exists(self.path(name, "failed"))

    def json(self, name):
        """The JSON a run produced: NAME.json (written by the tool) or NAME.out (stdout)."""
        if not self.ok(name):
            return None
        for ext in ("json", "out"):
            p = self.path(name, ext)
            if os.path.exists(p) and os.path.getsize(p) > 0:
                try:
                    with open(p) as f:
                        text = f.read().strip()
                    return json.loads(text.splitlines()[-1]) if ext == "out" else json.loads(text)
                except (ValueError, IndexError):
                    return None
        return None

    def time(self, name):
        """(wall seconds, peak RSS MB) from /usr/bin/time -v, or None."""
        p = self.path(name, "time")
        if not os.path.exists(p) or not self.ok(name):
            return None
        wall = rss = None
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line.startswith("Elapsed (wall clock)"):
                    parts = line.rsplit(" ", 1)[1].split(":")
                    wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(parts)))
                elif line.startswith("Maximum resident set size"):
                    rss = int(line.rsplit(" ", 1)[1]) / 1024
        return (wall, rss) if wall is not None else None

    def cmd(self, name):
        """A reference [n] to the command of run NAME, listed under the table."""
        p = self.path(name, "cmd")
        if not os.path.exists(p):
            return ""
        with open(p) as f:
            c = f.read().strip()
        if c not in self.cmds:
            self.cmds.append(c)
        return f"[{self.cmds.index(c) + 1}]"

    def commands(self):
        lines = ["", "Commands:", ""]
        lines += [f"{i + 1}. `{c}`" for i, c in enumerate(self.cmds)]
        self.cmds = []
        return lines

    def names(self, pattern):
        rx = re.compile(pattern)
        out = set()
        for f in os.listdir(self.dir):
            m = rx.fullmatch(f.rsplit(".", 1)[0])
            if m:
                out.add(m.groups() if len(m.groups()) > 1 else m.group(1))
        return sorted(out)


def machine(out):
    env = {}
    p = os.path.join(out, "machine.env")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                env[k] = v
    return env


def f(x, fmt="{:.3f}", none="—"):
    return none if x is None else fmt.format(x)


def ratio(a, b):
    return a / b if a and b else None


def verdict(value, target):
    if value is None:
        return "not measured"
    return f"**met** ({value:.3g} ≥ {target:g})" if value >= target else f"**missed** ({value:.3g} < {target:g})"


# ------------------------------------------------------------------------------------ commands
def corpus_stats(d):
    out = {}
    for split in ("train", "test"):
        docs = nbytes = 0
        with gzip.open(os.path.join(d, f"{split}.jsonl.gz"), "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    docs += 1
                    nbytes += len(json.loads(line)["text"].encode())
        out[f"{split}_docs"], out[f"{split}_mb"] = docs, nbytes / 1e6
    print(json.dumps(out))


def cv_score(runs, corpus, key):
    r = runs.json(f"cv.{corpus}.{key}")
    if not r or "cv" not in r:
        return None
    m = r["cv"]["metrics"]
    main = m["micro"]["f1"] if r.get("multi_label") else m["accuracy"]
    return main, m["macro"]["f1"], bool(r.get("multi_label"))


def select(out, corpus, grid):
    runs = Runs(out)
    best = None
    for i, k in enumerate(grid.split()):
        s = cv_score(runs, corpus, k)
        if s and (best is None or (s[0], s[1], -i) > best[0]):
            best = ((s[0], s[1], -i), k)
    print(best[1] if best else "mnb")


# ------------------------------------------------------------------------------------ tables
def selected(runs, corpus):
    p = os.path.join(runs.dir, f"selected.{corpus}")
    return open(p).read().strip() if os.path.exists(p) else None


def grid_keys(runs, corpus):
    keys = [k for k in GRID_LABELS if os.path.exists(runs.path(f"cv.{corpus}.{k}", "cmd"))]
    return keys


def train_mb(runs, corpus):
    s = runs.json(f"corpus.{corpus}")
    return s["train_mb"] if s else None


def peers_of(runs, corpus):
    return [p for p in PEER_LABELS if os.path.exists(runs.path(f"peer.{corpus}.{p}", "cmd"))]


def peer(runs, corpus, p):
    j = runs.json(f"peer.{corpus}.{p}")
    return j["results"][0] if j and j.get("results") else None


def table_training(runs, corpora, lines):
    lines += ["### 1. Training: wall time, MB/s of text, peak RSS", ""]
    lines += ["Wall time includes reading the gzip'd JSON Lines file. attache: the whole `attache train` "
              "process under `/usr/bin/time -v` (start-up, reading, tokenising on every core, counting, "
              "writing the model file), median of the repeats. Peers: offline.py's in-process training time "
              "(reading, vectorising, fitting; no interpreter start-up), median of its repeats; their peak RSS "
              "is the whole offline.py process (it also reads the test set and predicts). "
              "MB/s: MB of training text (UTF-8) per second of wall time.", ""]
    ratios = {}
    for c in corpora:
        mb = train_mb(runs, c)
        lines += [f"**{c}** ({f(mb, '{:.1f}')} MB of training text)", "",
                  "| system | setting | train (s) | MB/s | peak RSS (MB) | attache (defaults) is … × faster | test accuracy | command |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        keys = [k for k in GRID_LABELS if runs.names(rf"train\.{re.escape(c)}\.({re.escape(k)})\.\d+")]
        base = None
        rows = []
        for k in keys:
            times = [runs.time(f"train.{c}.{k}.{r}") for r in range(1, 10)]
            times = [t for t in times if t]
            if not times:
                continue
            wall = statistics.median(t[0] for t in times)
            rss = max(t[1] for t in times)
            if k == "mnb":
                base = wall
            ev = runs.json(f"eval.{c}.{k}")
            star = " ★" if k == selected(runs, c) else ""
            rows.append(["attache", GRID_LABELS[k] + star, wall, mb / wall if mb else None, rss, None,
                         ev.get("accuracy") if ev else None, runs.cmd(f"train.{c}.{k}.1")])
        for p in peers_of(runs, c):
            r = peer(runs, c, p)
            t = runs.time(f"peer.{c}.{p}")
            if not r:
                rows.append([p, PEER_LABELS[p], None, None, None, None, None, runs.cmd(f"peer.{c}.{p}") + " failed"])
                continue
            rows.append([p, PEER_LABELS[p], r["train_s"], r["train_mb_s"], t[1] if t else r.get("peak_rss_mb"),
                         ratio(r["train_s"], base), r["accuracy"], runs.cmd(f"peer.{c}.{p}")])
        for row in rows:
            lines.append(f"| {row[0]} | {row[1]} | {f(row[2], '{:.2f}')} | {f(row[3], '{:.1f}')} | "
                         f"{f(row[4], '{:.0f}')} | {f(row[5], '{:.1f}×')} | {f(row[6], '{:.4f}')} | {row[7]} |")
        lines.append("")
        ratios[c] = {p: ratio((peer(runs, c, p) or {}).get("train_s"), base) for p in peers_of(runs, c)}
    lines += runs.commands()
    lines += ["", "Targets (attache with default settings against each peer; ≥ 10×):", ""]
    for c, rs in ratios.items():
        ft = [p for p in rs if p.startswith("fasttext-tuned") and rs[p]]
        lines.append(f"- {c}: vs CountVectorizer + MultinomialNB {verdict(rs.get('sklearn-mnb'), 10)}; "
                     + "; ".join(f"vs {PEER_LABELS[p]} {verdict(rs[p], 10)}" for p in ft))
    cs = list(ratios)
    if len(cs) == 2 and all(ratios[c].get("sklearn-mnb") for c in cs):
        a, b = (ratios[c]["sklearn-mnb"] for c in cs)
        lines.append(f"- the gap as the corpus grows ({cs[0]} → {cs[1]}, vs CountVectorizer + MultinomialNB): "
                     f"{a:.1f}× → {b:.1f}× ({'does not shrink' if b >= a else '**shrinks**'})")
    lines.append("")


def table_inprocess(runs, corpora, lines):
    lines += ["### 2. In-process classification: batch, one document per call, single-document latency", ""]
    lines += ["attache: `attache bench offline` (median of its repeats). *Batch* is the top label of every test "
              "document (what scikit-learn's `predict` returns), on one thread and on all cores; *one doc per "
              "call* is the full `Model::classify` (ranked labels, thresholds) timed call by call on the first "
              "2,000 test documents, as offline.py does for the peers. Peers' latency is the mean of their "
              "one-document calls (offline.py reports no percentiles).", ""]
    targets = []
    for c in corpora:
        lines += [f"**{c}** (test set)", "",
                  "| system | setting | batch docs/s (1 thread) | batch docs/s (all cores) | one doc per call, docs/s | latency p50 / p99 (µs) | accuracy | command |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        base = {}
        for k in GRID_LABELS:
            r = runs.json(f"offline.{c}.{k}")
            if not r:
                continue
            base[k] = r
            star = " ★" if k == selected(runs, c) else ""
            lines.append(f"| attache | {GRID_LABELS[k]}{star} | {r['batch_docs_s']:.0f} | "
                         f"{r['batch_parallel_docs_s']:.0f} ({r['threads']}) | {r['single_docs_s']:.0f} | "
                         f"{r['single_p50_us']:.0f} / {r['single_p99_us']:.0f} | {f(r.get('accuracy'), '{:.4f}')} | "
                         f"{runs.cmd(f'offline.{c}.{k}')} |")
        for p in peers_of(runs, c):
            r = peer(runs, c, p)
            if not r:
                continue
            lines.append(f"| {p} | {PEER_LABELS[p]} | {r['batch_docs_s']:.0f} | — | {r['single_docs_s']:.0f} | "
                         f"mean {1e6 / r['single_docs_s']:.0f} | {r['accuracy']:.4f} | {runs.cmd(f'peer.{c}.{p}')} |")
        lines.append("")
        sk = peer(runs, c, "sklearn-mnb")
        if sk and "mnb" in base:
            targets.append(f"- {c}, attache defaults vs CountVectorizer + MultinomialNB: batch on one thread "
                           f"{verdict(ratio(base['mnb']['batch_docs_s'], sk['batch_docs_s']), 10)}, on all cores "
                           f"{verdict(ratio(base['mnb']['batch_parallel_docs_s'], sk['batch_docs_s']), 10)}, "
                           f"one doc per call {verdict(ratio(base['mnb']['single_docs_s'], sk['single_docs_s']), 100)}")
        sel = selected(runs, c)
        cnb = peer(runs, c, "sklearn-cnb-tfidf")
        if cnb and sel in base:
            targets.append(f"- {c}, attache ★ ({GRID_LABELS[sel]}) vs TF-IDF(1,2) + ComplementNB: batch on one "
                           f"thread {verdict(ratio(base[sel]['batch_docs_s'], cnb['batch_docs_s']), 10)}, on all cores "
                           f"{verdict(ratio(base[sel]['batch_parallel_docs_s'], cnb['batch_docs_s']), 10)}, "
                           f"one doc per call {verdict(ratio(base[sel]['single_docs_s'], cnb['single_docs_s']), 100)}")
    lines += runs.commands()
    lines += ["", "Targets (batch ≥ 10×, one document per call ≥ 100× the scikit-learn pipeline):", ""] + targets + [""]


def table_accuracy(runs, corpora, lines):
    lines += ["### 3. Accuracy and macro-F1 per corpus", ""]
    lines += ["attache: every setting below is cross-validated (5 folds, stratified, seed 42) on the training "
              "set; ★ marks the one the cross-validation picks (accuracy, or micro-F1 for multi-label; the "
              "test set plays no part in the choice). Test figures are `attache eval` on the test set. The "
              "cross-validation figures are optimistic (random folds, features extracted once from all "
              "training documents; on 20 Newsgroups the official test split is also later in time). "
              "Peers: offline.py, single-label metrics on the first label of each document. On the "
              "multi-label corpus, attache assigns label sets (temperature and per-label thresholds fitted "
              "on out-of-fold posteriors); *top label* is the share of test documents whose top label is "
              "their first gold label, the peers' accuracy there, though the peers were trained on first labels "
              "only and attache on every label; reuters21578-apte90-first, where attache too trains on first "
              "labels only, is the like-for-like comparison.", ""]
    targets = []
    for c in corpora:
        keys = grid_keys(runs, c)
        multi = any((cv_score(runs, c, k) or (0, 0, False))[2] for k in keys)
        sel = selected(runs, c)
        lines.append(f"**{c}**{' (multi-label)' if multi else ''}")
        lines.append("")
        if c in CORPUS_NOTES:
            lines += [CORPUS_NOTES[c], ""]
        if multi:
            lines += ["| system | setting | CV micro-F1 | test micro-F1 | test macro-F1 | top label | command |",
                      "|---|---|---:|---:|---:|---:|---|"]
        else:
            lines += ["| system | setting | CV accuracy | test accuracy | test macro-F1 | command |",
                      "|---|---|---:|---:|---:|---|"]
        best_sk = max((peer(runs, c, p)["accuracy"] for p in SKLEARN_NB if peer(runs, c, p)), default=None)
        sel_ev = None
        for k in keys:
            cv = cv_score(runs, c, k)
            ev = runs.json(f"eval.{c}.{k}")
            star = " ★" if k == sel else ""
            if k == sel:
                sel_ev = ev
            if multi:
                top = runs.json(f"acc-offline.{c}.{k}") or {}
                lines.append(f"| attache | {GRID_LABELS[k]}{star} | {f(cv and cv[0], '{:.4f}')} | "
                             f"{f(ev and ev['micro']['f1'], '{:.4f}')} | {f(ev and ev['macro']['f1'], '{:.4f}')} | "
                             f"{f(top.get('accuracy'), '{:.4f}')} | {runs.cmd(f'cv.{c}.{k}')} {runs.cmd(f'eval.{c}.{k}')} |")
            else:
                lines.append(f"| attache | {GRID_LABELS[k]}{star} | {f(cv and cv[0], '{:.4f}')} | "
                             f"{f(ev and ev['accuracy'], '{:.4f}')} | {f(ev and ev['macro']['f1'], '{:.4f}')} | "
                             f"{runs.cmd(f'cv.{c}.{k}')} {runs.cmd(f'eval.{c}.{k}')} |")
        for p in peers_of(runs, c):
            r = peer(runs, c, p)
            if not r:
                continue
            if multi:
                lines.append(f"| {p} | {PEER_LABELS[p]} | — | — | (first label) {r['macro_f1']:.4f} | "
                             f"{r['accuracy']:.4f} | {runs.cmd(f'peer.{c}.{p}')} |")
            else:
                lines.append(f"| {p} | {PEER_LABELS[p]} | — | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
                             f"{runs.cmd(f'peer.{c}.{p}')} |")
        for system, figure, source in PUBLISHED.get(c, []):
            cols = "| — | — | — |" if not multi else "| — | — | — | — |"
            lines.append(f"| published | {system}: {figure} ({source}) {cols} |")
        lines.append("")
        if sel_ev:
            if c == "20newsgroups-bydate":
                targets.append(f"- 20 Newsgroups test accuracy ≥ 0.86: {verdict(sel_ev['accuracy'], 0.86)}")
            if c == "reuters21578-apte90":
                targets.append(f"- Reuters-21578 apte90 micro-F1 ≥ 0.85: {verdict(sel_ev['micro']['f1'], 0.85)}")
            if best_sk is not None and multi:
                mine = (runs.json(f"acc-offline.{c}.{sel}") or {}).get("accuracy")
                targets.append(f"- {c}: attache ★ top-label accuracy, trained on every label, against the best "
                               f"scikit-learn NB pipeline, trained on first labels ({best_sk:.4f}): "
                               + ("not measured" if mine is None else f"{mine:.4f}")
                               + "; not like for like, so the target is judged on its first-label copy")
            elif best_sk is not None:
                mine = sel_ev["accuracy"]
                targets.append(f"- {c}: attache ★ {'top-label ' if multi else ''}accuracy ≥ best scikit-learn NB "
                               f"pipeline ({best_sk:.4f}): "
                               + ("not measured" if mine is None else
                                  ("**met**" if mine >= best_sk else "**missed**") + f" ({mine:.4f})"))
    lines += runs.commands()
    lines += ["", "Targets:", ""] + targets + [""]


def table_serving(runs, lines):
    lines += ["### 4. gRPC serving: attache vs MLServer", ""]
    lines += ["Both servers classify the same documents (the test set of the serving corpus, in order, "
              "cycling) with a CountVectorizer-style multinomial model trained on its training set. Closed "
              "loop: each of c callers keeps one request in flight. *py*: a Python grpcio asyncio client (the "
              "peer's load.py for MLServer, bench/attache_load.py for attache, same design); *rs*: `attache "
              "bench` (Rust, tonic), with `--protocol kserve-v2` for MLServer: the same closed loop and "
              "documents, whichever server it drives. Rows are grouped by client and load, so each server "
              "sits next to the others under the same client. Everything runs on the same cores as the "
              "server, so the client's CPU caps what a server can show — the Python client far more than the "
              "Rust one. MLServer speaks KServe V2 (`ModelInfer`: one BYTES tensor of the request's "
              "documents in, one label per document out); attache answers with the top label (top_k 1).", ""]
    lines += ["*Server CPU/doc* is the CPU time (user + system, all its processes) the server used during the "
              "run divided by the documents answered: what a document costs the server, whatever the client "
              "costs (clock-tick resolution, 10 ms per run).", ""]
    lines += ["| server | client | load | req/s | docs/s | p50 (ms) | p99 (ms) | errors | server CPU/doc (µs) | command |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    got = {}
    for client in ("py", "rs"):
        for key, label in LOADS:
            for server in SERVER_LABELS:
                name = f"load.{server}.{client}.{key}"
                if not os.path.exists(runs.path(name, "cmd")):
                    continue
                r = runs.json(name)
                got[(server, client, key)] = r
                if not r:
                    lines.append(f"| {SERVER_LABELS[server]} | {client} | {label} | failed | | | | | | {runs.cmd(name)} |")
                    continue
                cpu = None
                try:
                    with open(runs.path(name, "cpu")) as fh:
                        cpu = json.load(fh)["server_cpu_s"]
                except (OSError, ValueError, KeyError):
                    pass
                docs = r["docs_s"] * r["wall_s"]
                r["cpu_us_per_doc"] = cpu * 1e6 / docs if cpu is not None and docs else None
                lines.append(f"| {SERVER_LABELS[server]} | {client} | {label} | {r['req_s']:.0f} | {r['docs_s']:.0f} | "
                             f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | "
                             f"{f(r['cpu_us_per_doc'], '{:.0f}')} | {runs.cmd(name)} |")
    lines += runs.commands()
    lines += ["", "Target (unary, c=16: attache ≥ 20× MLServer's req/s, with a lower p99; each server "
              "driven by the same client):", ""]
    for ml in ("mlserver-w1", "mlserver-w0"):
        for client in ("py", "rs"):
            a, m = got.get(("attache", client, "unary-c16")), got.get((ml, client, "unary-c16"))
            if not (a or m):
                continue
            if not (a and m):
                lines.append(f"- {client} client on both, attache vs {SERVER_LABELS[ml]}: not measured")
                continue
            lines.append(f"- {client} client on both, attache vs {SERVER_LABELS[ml]}: "
                         f"{verdict(ratio(a['req_s'], m['req_s']), 20)}; p99 {a['p99_ms']:.2f} vs "
                         f"{m['p99_ms']:.2f} ms ({'lower' if a['p99_ms'] < m['p99_ms'] else '**not lower**'})")
        a, m = got.get(("attache", "py", "unary-c16")), got.get((ml, "py", "unary-c16"))
        if a and m and a.get("cpu_us_per_doc") and m.get("cpu_us_per_doc"):
            lines.append(f"- server CPU per document, unary c=16, same Python client: MLServer "
                         f"{m['cpu_us_per_doc']:.0f} µs / attache {a['cpu_us_per_doc']:.0f} µs = "
                         f"{m['cpu_us_per_doc'] / a['cpu_us_per_doc']:.0f}× (the throughput ratio a client that "
                         f"cost nothing would see, if the server had the cores to itself)")
    lines.append("")


def table_memory(runs, lines):
    lines += ["### 5. Memory, model size, load time", ""]
    lines += ["RSS is summed over the server's processes (MLServer runs several). *Idle*: one second after "
              "the first answer. *Under load*: the peak (VmHWM) after all the runs of table 4, summed per "
              "process. Model load: attache `Model::load` (read, checksum, validate, refit weights; median of 3); "
              "MLServer `joblib.load` of the pipeline (median of 3). Time to ready: from starting the process "
              "to the first answer (for MLServer this includes serve_sklearn.py training the pipeline, about "
              "a second).", ""]
    lines += ["| server | idle RSS (MB) | peak RSS under load (MB) | model file (MB) | model load (ms) | time to ready (s) |",
              "|---|---:|---:|---:|---:|---:|"]
    for server in SERVER_LABELS:
        idle = runs.json(f"mem.{server}.idle") or {}
        load = runs.json(f"mem.{server}.load") or {}
        if server == "attache":
            m = runs.json("serve-offline") or {}
            size, load_s = m.get("model_bytes"), m.get("load_s")
        else:
            m = runs.json(f"joblib.{server}") or {}
            size, load_s = m.get("model_bytes"), m.get("load_s")
        if not idle and not load:
            continue
        lines.append(f"| {SERVER_LABELS[server]} | {f(idle.get('idle_rss_kb') and idle['idle_rss_kb'] / 1024, '{:.0f}')} | "
                     f"{f(load.get('peak_rss_kb') and load['peak_rss_kb'] / 1024, '{:.0f}')} | "
                     f"{f(size and size / 1e6, '{:.2f}')} | {f(load_s and load_s * 1e3, '{:.1f}')} | "
                     f"{f(idle.get('ready_s'), '{:.2f}')} |")
    lines += ["", "Commands: the servers were started with"] + [""]
    for server in SERVER_LABELS:
        p = runs.path(f"serve.{server}", "cmd")
        if os.path.exists(p):
            lines.append(f"- `{open(p).read().strip()}`")
    lines.append("")


def render(out, md_path):
    runs = Runs(out)
    env = machine(out)
    lines = [BEGIN, "", f"## Results of `bench/run.sh{' --quick' if env.get('quick') == '1' else ''}`", "",
             "Generated by `bench/run.sh`; do not edit between the markers (text outside them is kept).", ""]
    if env.get("quick") == "1":
        lines += ["> **Smoke run (`--quick`)**: fewer corpora and peers, the large corpus cut to its first 2,000 "
                  "training and 600 test documents, one repeat, short load runs, on a machine where other work "
                  "may be running. It shows the harness works end to end; do not quote its figures.", ""]
    lines += [f"- Machine: {env.get('cpu', '?')}, {env.get('nproc', '?')} cores, {env.get('memory', '?')} RAM, "
              f"{env.get('kernel', '?')}; load average at start {env.get('load', '?')}",
              f"- Software: {env.get('rustc', '?')}; {env.get('python', '?')}, scikit-learn {env.get('sklearn', '?')}, "
              f"fastText {env.get('fasttext', '?')}, Vowpal Wabbit {env.get('vowpalwabbit', '?')}, MLServer {env.get('mlserver', '?')}",
              f"- Date {env.get('date', '?')}, attache commit {env.get('commit', '?')}; raw results in "
              f"`bench/out/{os.path.basename(os.path.normpath(out))}/` (not committed)",
              "- In commands, `attache` is `target/release/attache`, `$DATA` the corpora directory, `$PEERS` "
              "`../shared/peers`, `python` the virtualenv running the peer.", ""]
    train_corpora = sorted({n[0] for n in runs.names(r"train\.(.+)\.([a-z0-9-]+)\.(\d+)")},
                           key=lambda c: (c != "20newsgroups-bydate", c))
    acc_corpora = sorted({n[0] for n in runs.names(r"cv\.(.+)\.([a-z0-9-]+)")},
                         key=lambda c: ACC_ORDER.index(c) if c in ACC_ORDER else 99)
    table_training(runs, train_corpora, lines)
    table_inprocess(runs, train_corpora, lines)
    table_accuracy(runs, acc_corpora, lines)
    table_serving(runs, lines)
    table_memory(runs, lines)
    lines.append(END)
    block = "\n".join(lines) + "\n"
    with open(os.path.join(out, "tables.md"), "w") as fh:
        fh.write(block)
    if os.path.exists(md_path):
        text = open(md_path).read()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + block.rstrip("\n") + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + block
    else:
        text = ("# Benchmarks\n\nattache against the systems users would pick instead — scikit-learn, fastText, "
                "Vowpal Wabbit, Seldon MLServer — measured in one run on one machine by `bench/run.sh` "
                "(`bench/run.sh --quick` for a smoke run). The tables between the markers are generated; "
                "notes written by hand go outside them.\n\n" + block)
    with open(md_path, "w") as fh:
        fh.write(text)
    sys.stdout.write(block)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "corpus-stats":
        corpus_stats(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "select":
        select(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else " ".join(GRID_LABELS))
    elif len(sys.argv) == 4 and sys.argv[1] == "render":
        render(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
