"""Run in a child process by tripline.video.hashing: hash one video with the
vpdq package and print one ``frame,quality,pdqhex,timestamp`` line per frame.

A separate process because vpdq decodes inside C++, where no signal reaches
it: the parent enforces the decode deadline by killing this process, and the
child caps its own address space so a hostile stream cannot exhaust memory.
It imports nothing from tripline so that it starts fast.
"""

import resource
import sys

import vpdq


def main() -> int:
    path, seconds_per_hash, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    if len(sys.argv) > 4 and int(sys.argv[4]) > 0:
        limit = int(sys.argv[4])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        features = vpdq.computeHash(path, seconds_per_hash=seconds_per_hash, thread_count=threads)
    except MemoryError:
        sys.stderr.write("vpdq: out of memory (over the video memory limit)\n")
        return 3
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        sys.stderr.write(f"vpdq: {type(exc).__name__}: {exc}\n")
        return 2
    out = sys.stdout
    for f in features:
        out.write(f"{f.frame_number},{f.quality},{f.hex},{f.timestamp:.6f}\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
