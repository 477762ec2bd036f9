"""The Python memory-fs 0.41 package's own in-memory timings, for docs/benchmarks.md.

Median per operation: save / load / exists / delete of a ~210-byte JSON file, and a
16 MiB binary save. Run by `cargo xtask bench-python` next to the Rust benchmark.
"""
import statistics, time

from memory_fs.Memory_FS import Memory_FS
from memory_fs.path_handlers.Path__Handler__Latest import Path__Handler__Latest
from memory_fs.file_types.Memory_FS__File__Type__Json import Memory_FS__File__Type__Json
from memory_fs.file_types.Memory_FS__File__Type__Binary import Memory_FS__File__Type__Binary

DOC = {"user": "alice", "id": 12345, "active": True, "score": 98.5, "roles": ["admin", "editor", "viewer"],
       "address": {"city": "Lisboa", "zip": "1000-001", "country": "PT"},
       "note": "a small JSON document of about two hundred bytes"}


def median_us(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t)
    return statistics.median(times) / 1000


def main():
    mfs = Memory_FS()
    mfs.set_storage__memory()
    mfs.add_handler(Path__Handler__Latest())
    f = mfs.file(file_id="bench-doc", file_type=Memory_FS__File__Type__Json)
    f.create(DOC)
    print(f"python save_json_210B  {median_us(lambda: f.update(DOC), 300):10.1f} us")
    print(f"python load_json_210B  {median_us(lambda: f.content(), 300):10.1f} us")
    print(f"python exists          {median_us(lambda: f.exists(), 300):10.1f} us")

    def delete_cycle():
        f.create(DOC)
        t = time.perf_counter_ns()
        f.delete()
        return time.perf_counter_ns() - t
    deletes = [delete_cycle() for _ in range(300)]
    print(f"python delete          {statistics.median(deletes) / 1000:10.1f} us")
    big = bytes(16 << 20)
    times = []
    for i in range(10):
        b = mfs.file(file_id=f"bench-bin-{i}", file_type=Memory_FS__File__Type__Binary)
        t = time.perf_counter_ns()
        b.create(big)
        times.append(time.perf_counter_ns() - t)
    print(f"python save_binary_16MiB {statistics.median(times) / 1e6:8.1f} ms")


if __name__ == "__main__":
    main()
