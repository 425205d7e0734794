#!/usr/bin/env python3
# Writes the bad .npy and .safetensors files of this folder and their .expect files. Run from this
# folder after changing it; the files are committed, so the tests do not need Python.
import json
import struct

def expect(path, messages, why):
    with open(path.rsplit('.', 1)[0] + '.expect', 'w') as f:
        f.write(f'# {why}\n' + ''.join(f'message: {m}\n' for m in messages))

def npy(descr='<f4', shape='(2,)', data=b'', major=1, fortran='False', header=None, length=None, magic=b'\x93NUMPY'):
    h = header if header is not None else "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    h = h.encode() if isinstance(h, str) else h
    n = len(h) if length is None else length
    ln = struct.pack('<H', n) if major == 1 else struct.pack('<I', n)
    return magic + bytes([major, 0]) + ln + h + data

f4 = lambda *xs: b''.join(struct.pack('<f', x) for x in xs)
NPY = [
    ('bad_magic', npy(magic=b'\x93NUMPZ', data=f4(1, 2)), ['not an .npy file (bad magic'], 'one letter of the magic changed'),
    ('empty', b'', ['not an .npy file'], 'zero bytes'),
    ('truncated_in_version', b'\x93NUMPY\x01', ['truncated header'], 'ends inside the version'),
    ('truncated_in_length', b'\x93NUMPY\x01\x00\x10', ['truncated header: the file ends inside the header length'], 'ends inside the header length'),
    ('lying_header_length', npy(data=f4(1, 2), length=60000), ['header length 60000', 'runs past the end of the file'],
     'the header length claims 60000 bytes'),
    ('lying_header_length_v2', npy(data=f4(1, 2), major=2, length=0xFFFFFFFF), ['header length 4294967295', 'runs past the end'],
     'format 2.0 with a 4 GiB header length'),
    ('truncated_data', npy(shape='(4, 4)', data=f4(1, 2, 3)), ['truncated data: shape (4, 4)', 'needs 16 elements of 4 bytes but the file holds 12 bytes'],
     'the shape needs 64 bytes, the file has 12'),
    ('lying_shape_huge', npy(shape='(1000000, 1000000, 1000000)', data=f4(1)), ['truncated data', 'needs 1000000000000000000 elements'],
     'a shape of 10^18 elements over 4 bytes of data: refused without allocating'),
    ('lying_shape_overflow', npy(shape='(4294967296, 4294967296, 4294967296)', data=f4(1)),
     ['has more elements than fit in a 64-bit integer'], 'a shape whose product overflows'),
    ('shape_entry_too_big', npy(shape='(99999999999999999999,)', data=f4(1)), ['does not fit in a 64-bit integer'], 'one entry past int64'),
    ('negative_shape', npy(shape='(-1, 2)', data=f4(1, 2)), ['shape entry -1 is negative'], 'a negative dimension'),
    ('trailing_bytes', npy(shape='(1,)', data=f4(1, 2)), ['4 trailing bytes after the data'], 'more data than the shape holds'),
    ('big_endian', npy(descr='>f4', data=f4(1, 2)), ["big-endian data ('>f4') is not supported"], 'big-endian floats'),
    ('int32', npy(descr='<i4', data=f4(1, 2)), ["unsupported dtype '<i4'"], 'an integer array'),
    ('u2_without_flag', npy(descr='<u2', data=b'\x80\x3f\x80\x3f'), ["unsupported dtype '<u2'", '--bf16-bits'], 'bf16 bits need --bf16-bits'),
    ('fortran_order', npy(fortran='True', data=f4(1, 2)), ['fortran_order True (column-major) arrays are not supported'], 'column-major'),
    ('structured_dtype', npy(header="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data=f4(1, 2)),
     ['structured dtypes are not supported'], 'a record array'),
    ('header_not_dict', npy(header='[1, 2, 3]', data=f4(1, 2)), ["malformed header dict: expected '{'"], 'the header is a list'),
    ('header_missing_shape', npy(header="{'descr': '<f4', 'fortran_order': False, }", data=f4(1, 2)), ["no 'shape' key"], 'no shape'),
    ('header_duplicate_key', npy(header="{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", data=f4(1, 2)),
     ["key 'descr' appears twice"], 'a key twice'),
    ('header_unterminated', npy(header="{'descr': '<f4, 'fortran_order': False, 'shape': (2,)", data=f4(1, 2)),
     ['malformed header dict'], 'a quote never closed'),
    ('header_deep', npy(header="{'descr': '<f4', 'fortran_order': False, 'shape': " + '(' * 100000 + ')' * 100000 + ', }', data=f4(1, 2), major=2),
     ['values nested too deeply'], '100 000 nested tuples in the header'),
    ('version_9', npy(major=9, data=f4(1, 2)), ['unsupported .npy format version 9.0'], 'an unknown format version'),
    ('descr_not_utf8', npy(header=b"{'descr': '<\xff\x1b[31m', 'fortran_order': False, 'shape': (2,), }", data=f4(1, 2)),
     ["unsupported dtype '<\\xFF\\x1B[31m'"],
     'a descr of raw bytes and a terminal escape: quoted escaped (a JSON report writer throws on invalid UTF-8)'),
    ('key_escape', npy(header=b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), '\x1b]0;pwned\x07': 1, }", data=f4(1, 2)),
     ["unexpected key '\\x1B]0;pwned\\x07'"], 'a terminal escape in a header key'),
]
for name, data, messages, why in NPY:
    with open(f'npy/{name}.npy', 'wb') as f:
        f.write(data)
    expect(f'npy/{name}.npy', ['{file}: error: '] + messages, why)

def st(header, data=b'', length=None):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(',', ':')).encode()
    return struct.pack('<Q', len(h) if length is None else length) + h + data

ok_out = {'out': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}
ST = [
    ('too_short', b'\x08\x00\x00', ['too short for a safetensors file (3 bytes'], 'three bytes'),
    ('absurd_header_length', st(ok_out, f4(1, 2), length=2**63), ['header length 9223372036854775808 is absurd'], 'a 2^63-byte header'),
    ('lying_header_length', st(ok_out, f4(1, 2), length=5000), ['header length 5000 runs past the end of the file'], 'past the end'),
    ('malformed_json', st(b'{"out": {"dtype": "F32",', f4(1, 2)), ['malformed JSON header'], 'a header cut short'),
    ('header_not_object', st([1, 2], f4(1, 2)), ['the JSON header is not an object'], 'a list'),
    ('entry_not_object', st({'out': 5}, f4(1, 2)), ["tensor 'out': entry is not an object"], 'a number for a tensor'),
    ('missing_offsets', st({'out': {'dtype': 'F32', 'shape': [2]}}, f4(1, 2)), ["tensor 'out': entry has no 'data_offsets'"], 'no offsets'),
    ('dtype_i32', st({'out': {'dtype': 'I32', 'shape': [2], 'data_offsets': [0, 8]}}, f4(1, 2)), ["unsupported dtype 'I32'"], 'integers'),
    ('shape_mismatch', st({'out': {'dtype': 'F32', 'shape': [3], 'data_offsets': [0, 8]}}, f4(1, 2)),
     ["data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 3 elements of 4 bytes"], 'the shape lies about the data'),
    ('shape_huge', st({'out': {'dtype': 'F32', 'shape': [2**31, 2**31, 2**31], 'data_offsets': [0, 8]}}, f4(1, 2)),
     ['has more elements than fit in a 64-bit integer'], 'a product past int64'),
    ('shape_negative', st({'out': {'dtype': 'F32', 'shape': [-2], 'data_offsets': [0, 8]}}, f4(1, 2)), ['shape entry -2 is negative'], 'negative'),
    ('shape_float', st({'out': {'dtype': 'F32', 'shape': [2.0], 'data_offsets': [0, 8]}}, f4(1, 2)), ['shape entry 2.0 is not an integer'], 'a float'),
    ('offsets_reversed', st({'out': {'dtype': 'F32', 'shape': [2], 'data_offsets': [8, 0]}}, f4(1, 2)), ['end before they begin'], 'end < begin'),
    ('offsets_past_end', st({'out': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 800]}}, f4(1, 2)),
     ['data_offsets [0, 800] run past the data buffer (8 bytes)'], 'past the buffer'),
    ('offsets_negative', st({'out': {'dtype': 'F32', 'shape': [2], 'data_offsets': [-8, 0]}}, f4(1, 2)),
     ["'data_offsets' must be [begin, end] with non-negative integers"], 'negative offsets'),
    ('overlap', st({'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}, 'b': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}, f4(1, 2)),
     ["overlap in the data buffer"], 'two tensors share bytes'),
    ('gap', st({'out': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}, f4(1, 2)), ['bytes [0, 4) of the data buffer belong to no tensor'], 'a hole'),
    ('trailing', st({'out': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, f4(1, 2)), ['4 trailing bytes after the last tensor'], 'extra data'),
    ('metadata_not_strings', st({'__metadata__': {'a': 1}, **ok_out}, f4(1, 2)), ["'__metadata__' must be an object whose values are strings"], 'metadata'),
    ('name_escape', st({'\u001b[2Jout': {'dtype': 'I8', 'shape': [2], 'data_offsets': [0, 8]}}, f4(1, 2)),
     ["tensor '\\x1B[2Jout': unsupported dtype 'I8'"], 'a terminal escape in a tensor name'),
    ('deep_offsets', st(b'{"out":{"dtype":"F32","shape":[2],"data_offsets":' + b'[' * 100000 + b']' * 100000 + b'}}', f4(1, 2)),
     ['nested deeper than 64 levels'], '100 000 nested lists: used to overflow the stack (dump recursed per level)'),
    ('duplicate_name', st(b'{"out":{"dtype":"F32","shape":[7],"data_offsets":[0,28]},"out":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f4(1, 2)),
     ["malformed JSON header: duplicate key 'out' at byte 65 (first at byte 9)"],
     'a tensor named twice: the second used to win silently over the one a reader sees first'),
    ('nul_in_header', st(b'{"out":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}\x00{"out":5}', f4(1, 2)),
     ['malformed JSON header: NUL byte at byte 64'], 'a NUL byte in the header: everything after it used to be ignored'),
]
for name, data, messages, why in ST:
    with open(f'safetensors/{name}.safetensors', 'wb') as f:
        f.write(data)
    expect(f'safetensors/{name}.safetensors', ['{file}: error: '] + messages, why)

# Configs that are not plain text (the rest of configs/ is edited by hand).
def config_expect(path, messages, why, exit_code=2):
    with open(path.rsplit('.', 1)[0] + '.expect', 'w') as f:
        f.write(f'# {why}\nexit: {exit_code}\n' + ''.join(f'message: {m}\n' for m in messages))

case = b'{"name": "a", "tokens": 4, "heads": 2, "head_dim": 4}'
CONFIGS = [
    ('nul_byte', b'{"cases": [' + case + b']}\n\x00{"cases": [{"name": "hidden", "tokens": 0}]}\n',
     ['{file}:2:1: error: malformed JSON: NUL byte', 'note: JSON text never holds one'],
     'a NUL byte after a valid suite: nlohmann stops there, so the rest used to be ignored silently'),
    ('nul_in_name', b'{"cases": [{"name": "a\x00b", "tokens": 4, "heads": 2, "head_dim": 4}]}',
     ['{file}:1:23: error: malformed JSON: NUL byte'], 'a raw NUL byte inside a string'),
]
for name, data, messages, why in CONFIGS:
    with open(f'configs/{name}.json', 'wb') as f:
        f.write(data)
    config_expect(f'configs/{name}.json', messages, why)
