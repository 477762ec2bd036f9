"""Live compatibility with the Python memory-fs 0.41 package, driven by tests/tests/python_live.rs.

usage: live_compat.py write STORE          -> writes a store with Python into STORE, prints a manifest (JSON)
       live_compat.py read STORE MANIFEST -> reads the files MANIFEST lists from STORE with Python, prints results (JSON)

STORE is a directory (Storage_FS__Local_Disk) or sqlite:PATH (Storage_FS__Sqlite on a file).
"""
import base64, json, sys

from memory_fs.Memory_FS import Memory_FS
from memory_fs.file_fs.File_FS import File_FS
from memory_fs.schemas.Schema__Memory_FS__File__Config import Schema__Memory_FS__File__Config
from memory_fs.storage_fs.providers.Storage_FS__Local_Disk import Storage_FS__Local_Disk
from memory_fs.storage_fs.providers.Storage_FS__Sqlite import Storage_FS__Sqlite
from memory_fs.path_handlers.Path__Handler__Latest import Path__Handler__Latest
from memory_fs.path_handlers.Path__Handler__Versioned import Path__Handler__Versioned
from memory_fs.path_handlers.Path__Handler__Custom import Path__Handler__Custom
from memory_fs.file_types.Memory_FS__File__Type__Json import Memory_FS__File__Type__Json
from memory_fs.file_types.Memory_FS__File__Type__Text import Memory_FS__File__Type__Text
from memory_fs.file_types.Memory_FS__File__Type__Markdown import Memory_FS__File__Type__Markdown
from memory_fs.file_types.Memory_FS__File__Type__Binary import Memory_FS__File__Type__Binary

TYPES = {"json": Memory_FS__File__Type__Json, "text": Memory_FS__File__Type__Text,
         "markdown": Memory_FS__File__Type__Markdown, "binary": Memory_FS__File__Type__Binary}

CASES = [
    ("py-json", "json", {"n": 1, "f": 0.5, "s": "olá ✓ 😀", "nested": {"a": [1, 2, None, True]}}),
    ("py-text", "text", "line one\nline two — ✓\n"),
    ("py-md", "markdown", "# Heading\n\n*text*\n"),
    ("py-bin", "binary", bytes(range(256))),
]


def storage(spec):
    if spec.startswith("sqlite:"):
        return Storage_FS__Sqlite(db_path=spec[len("sqlite:"):], in_memory=False).setup()
    return Storage_FS__Local_Disk(root_path=spec)


def encode(value):
    if isinstance(value, bytes):
        return {"encoding": "base64", "value": base64.b64encode(value).decode()}
    if isinstance(value, str):
        return {"encoding": "string", "value": value}
    if value is None:
        return {"encoding": "none", "value": None}
    return {"encoding": "json", "value": value}


def write(root):
    manifest = []
    for file_id, type_name, value in CASES:
        mfs = Memory_FS()
        mfs.set_storage(storage(root))
        mfs.add_handler(Path__Handler__Latest())
        mfs.add_handler(Path__Handler__Custom(custom_path="backup"))
        f = mfs.file(file_id=file_id, file_type=TYPES[type_name])
        f.create(value)
        manifest.append({"file_id": file_id, "type": type_name, "file_paths": [str(p) for p in f.file__config.file_paths],
                         "expected": encode(value)})
    print(json.dumps(manifest))


def read(root, manifest_path):
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    out = []
    for entry in manifest:
        config = Schema__Memory_FS__File__Config(file_id=entry["file_id"], file_paths=entry["file_paths"],
                                                 file_type=TYPES[entry["type"]]())
        f = File_FS(file__config=config, storage_fs=storage(root))
        out.append({"file_id": entry["file_id"], "exists": bool(f.exists()), "content": encode(f.content())})
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "read":
        read(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
