#!/usr/bin/env python3
"""Trims a fuzz corpus to at most MAX_FILES inputs, keeping coverage first.

    fuzz/trim_corpus.py BINARY CORPUS_DIR [MAX_FILES]     (default 750)

BINARY is the target built by `cargo fuzz build`
(fuzz/target/x86_64-unknown-linux-gnu/release/<target>). libFuzzer's set-cover merge
records the coverage of every input (edges only: hit counts are left out); inputs are then picked greedily, each time the
one adding the most edges not yet covered (the smaller one on a tie), until every
edge is covered or MAX_FILES are picked. The corpus directory is left holding
exactly those inputs. `cargo fuzz cmin` keeps every input that adds any edge;
this is for corpora where that is still more files than the repository should hold.
"""

import heapq
import os
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    binary, corpus = sys.argv[1], sys.argv[2]
    max_files = int(sys.argv[3]) if len(sys.argv) == 4 else 750
    with tempfile.TemporaryDirectory() as scratch:
        control = os.path.join(scratch, "control")
        out = os.path.join(scratch, "out")
        os.mkdir(out)
        subprocess.run(
            [binary, "-set_cover_merge=1", "-use_counters=0", f"-merge_control_file={control}", out, corpus],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with open(control) as f:
            lines = f.read().splitlines()
        count = int(lines[0])
        files = lines[2 : 2 + count]
        edges = {}
        for line in lines[2 + count :]:
            if line.startswith("FT "):
                _, index, *pcs = line.split()
                edges[int(index)] = set(pcs)

    # Lazy greedy: a gain only shrinks as coverage grows, so a stale gain on top of
    # the heap is recomputed and pushed back until the top one is current.
    heap = [(-len(pcs), os.path.getsize(files[i]), i) for i, pcs in edges.items()]
    heapq.heapify(heap)
    covered = set()
    picked = []
    while heap and len(picked) < max_files:
        stale, size, index = heapq.heappop(heap)
        gain = edges[index] - covered
        if not gain:
            continue
        if -len(gain) != stale:
            heapq.heappush(heap, (-len(gain), size, index))
            continue
        covered |= gain
        picked.append(index)

    keep = {os.path.basename(files[i]) for i in picked}
    for name in os.listdir(corpus):
        if name not in keep:
            os.remove(os.path.join(corpus, name))
    total = set().union(*edges.values()) if edges else set()
    print(f"{corpus}: kept {len(keep)} of {len(files)} inputs, {len(covered)} of {len(total)} edges")


if __name__ == "__main__":
    main()
