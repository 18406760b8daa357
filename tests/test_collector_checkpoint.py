"""Signed checkpoints of the consent log (docs/collector.md): C2SP signed notes with Ed25519,
checked against the test vectors of Go's golang.org/x/mod/sumdb/note (note_test.go), the C2SP
signed-note and tlog-checkpoint specifications, and transparency-dev/formats (log/note_test.go),
so that the collector's checkpoints are exactly what other transparency-log tools read."""

from __future__ import annotations

import base64
import multiprocessing

import pytest
from collector_fixtures.support import file_mode, umask

from policysite.collector.core.checkpoint import (
    Checkpoint,
    NoteError,
    Signature,
    Signer,
    Verifier,
    generate_signer,
    key_id,
    log_origin,
    open_note,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from policysite.collector.core.log_key import load_or_create_signer
from policysite.errors import PolicyError

# golang.org/x/mod sumdb/note/note_test.go
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = ("x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6"
             "RyyBwJnAM=")  # fmt: skip
ENOCH_B64 = ("rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1"
             "RvMc+QQ=")  # fmt: skip
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"

# c2sp.org/signed-note, "Example"
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# c2sp.org/tlog-checkpoint, its example (signed by a key C2SP does not publish)
SOFA_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_NOTE = (
    SOFA_BODY + "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe"
    "4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
# transparency-dev/formats log/note_test.go
TD_KEYS = {
    "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs":
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
    "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH":
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
    "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj":
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
    "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots":
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
}  # fmt: skip

PETER = Verifier.parse(PETER_VKEY)
ENOCH = Verifier.parse(ENOCH_VKEY)
ROOT = bytes(range(32))
ORIGIN = "ximgo.com/consent-log"


def error(call, *args) -> str:
    with pytest.raises(NoteError) as caught:
        call(*args)
    return str(caught.value)


# Keys


def test_key_id_is_the_first_four_bytes_of_sha256_of_name_newline_type_and_key():
    public = base64.b64decode(PETER_VKEY.split("+", 2)[2])[1:]
    assert key_id("PeterNeumann", public) == 0xC74F20A3
    assert Verifier("PeterNeumann", 0xC74F20A3, public) == PETER


@pytest.mark.parametrize("vkey", [PETER_VKEY, ENOCH_VKEY, FOO_VKEY, *TD_KEYS])
def test_verifier_keys_round_trip(vkey):
    assert Verifier.parse(vkey).key_text() == vkey


@pytest.mark.parametrize(("vkey", "skey"), [(PETER_VKEY, PETER_SKEY), *TD_KEYS.items()])
def test_signer_keys_round_trip_and_derive_their_verifier(vkey, skey):
    signer = Signer.parse(skey)
    assert signer.key_text() == skey
    assert signer.verifier.key_text() == vkey
    name, hex_id, _ = vkey.split("+", 2)
    assert repr(signer) == f"Signer({name}+{hex_id})"  # never the private key


def manglings(key: str) -> list[str]:
    """note_test.go's: every substring but the whole, and every character changed by one."""
    cuts = [key[i:j] for i in range(len(key)) for j in range(i + 1, len(key) + 1)]
    bumped = [key[:i] + chr(ord(c) + 1) + key[i + 1 :] for i, c in enumerate(key)]
    return [k for k in cuts if k != key] + bumped


def accepted(parse, keys: list[str]) -> list[str]:
    taken = []
    for key in keys:
        try:
            parse(key)
        except NoteError:
            continue
        taken.append(key)
    return taken


def test_every_mangling_of_the_go_keys_is_refused():
    """note_test.go TestNewVerifier and TestNewSigner."""
    assert accepted(Verifier.parse, manglings(PETER_VKEY)) == []
    assert accepted(Signer.parse, manglings(PETER_SKEY)) == []


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
         "malformed key: the public key is not base64"),  # not canonical: "EY==" sets pad bits
        ("PeterNeumann+c74f20a3+" + base64.b64encode(bytes([1]) + bytes(33)).decode(),
         "malformed key: an Ed25519 public key has 32 bytes, not 33"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
         "malformed key: signature type 0x65 is not Ed25519 (0x01)"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
         "malformed key: key id c74f20a4 is not PeterNeumann's key's id (c74f20a3)"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
         "malformed key: key id 'C74F20A3' is not 8 lower-case hex digits"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
         "malformed key: 'Peter Neumann' is not a key name (no spaces or '+')"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
         "malformed key: the public key is not base64"),
    ],
)  # fmt: skip
def test_a_bad_verifier_key_says_what_is_wrong(vkey, message):
    """The first two are note_test.go's, "with adjusted key hash"."""
    assert error(Verifier.parse, vkey) == message


def test_a_private_key_text_is_not_taken_for_a_public_one():
    message = "malformed key: a private key starts with PRIVATE+KEY+"
    assert error(Signer.parse, PETER_VKEY) == message
    assert error(Verifier.parse, PETER_SKEY).startswith("malformed key: key id 'KEY' is not")


def test_generated_keys_sign_and_verify():
    signer, skey, vkey = generate_signer(ORIGIN)
    assert Signer.parse(skey).key_text() == skey
    assert Verifier.parse(vkey) == signer.verifier
    assert skey.startswith(f"PRIVATE+KEY+{ORIGIN}+{signer.key_id:08x}+A")
    note = sign_note("hi\n", signer)
    assert open_note(note, [Verifier.parse(vkey)])[0] == "hi\n"
    assert generate_signer(ORIGIN)[1] != skey


# Notes


def test_signing_gives_go_notes_exact_bytes():
    assert sign_note(TEXT, Signer.parse(PETER_SKEY)) == f"{TEXT}\n{PETER_SIG}"


def test_the_c2sp_example_note_verifies():
    text, sigs = open_note(FOO_NOTE, [Verifier.parse(FOO_VKEY)])
    assert text == "This is an example message.\n"
    assert [(s.name, s.key_id) for s in sigs] == [("example.com/foo", 0x530D903A)]


def test_a_note_with_a_known_and_an_unknown_signature_opens_with_the_known_one():
    peter = Signature("PeterNeumann", 0xC74F20A3, base64.b64decode(PETER_B64)[4:])
    enoch = Signature("EnochRoot", 0xAF0CFE78, base64.b64decode(ENOCH_B64)[4:])
    note = f"{TEXT}\n{PETER_SIG}{ENOCH_SIG}"
    assert open_note(note, [PETER]) == (TEXT, [peter])
    assert open_note(note.encode(), [PETER, ENOCH]) == (TEXT, [peter, enoch])
    assert open_note(f"{TEXT}\n{PETER_SIG}{PETER_SIG}", [PETER]) == (TEXT, [peter])


def test_a_note_without_a_trusted_signature_is_refused():
    assert error(open_note, f"{TEXT}\n{PETER_SIG}{ENOCH_SIG}", []) == (
        "unknown key: signed by PeterNeumann+c74f20a3, EnochRoot+af0cfe78, "
        "not by a trusted key (none)"
    )


def test_a_note_signed_by_another_key_of_the_same_name_is_refused():
    impostor, _, _ = generate_signer("PeterNeumann")
    message = error(open_note, sign_note(TEXT, impostor), [PETER])
    assert message == (
        f"unknown key: signed by PeterNeumann+{impostor.key_id:08x}, "
        "not by a trusted key (PeterNeumann+c74f20a3)"
    )


def test_an_altered_text_or_signature_is_a_bad_signature():
    bad = "bad signature: the signature of PeterNeumann+c74f20a3 does not match the text"
    altered = TEXT.replace("answer", "Answer")
    assert error(open_note, f"{altered}\n{PETER_SIG}", [PETER]) == bad
    spliced = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]  # note_test.go's invalid signature
    assert error(open_note, f"{TEXT}\n{spliced}", [PETER]) == bad
    # a bad signature of a trusted key spoils the note even beside a good one
    assert error(open_note, f"{TEXT}\n{PETER_SIG}{spliced}", [PETER]) == bad


def test_a_signature_whose_key_id_was_changed_is_not_the_trusted_keys():
    raw = bytearray(base64.b64decode(PETER_B64))
    raw[3] ^= 1
    line = f"— PeterNeumann {base64.b64encode(raw).decode()}\n"
    assert error(open_note, f"{TEXT}\n{line}", [PETER]).startswith(
        "unknown key: signed by PeterNeumann+c74f20a2, not by a trusted key"
    )


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (TEXT, "malformed note: no blank line before the signature lines"),
        (TEXT + "\n", "malformed note: the last signature line does not end in a newline"),
        (TEXT + "\n" + PETER_SIG[:-1],
         "malformed note: the last signature line does not end in a newline"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "malformed note: control character U+0001 on line 1"),
        (b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), "malformed note: not valid UTF-8"),
        ("\udcff" + TEXT + "\n" + PETER_SIG, "malformed note: not valid UTF-8"),
        (TEXT + "\n— Bad Name " + PETER_B64 + "\n",
         "malformed note: signature line 1 is not '— <name> <base64>'"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
         "malformed note: signature line 2 does not start with '— '"),
        (TEXT + "\n" + PETER_SIG.replace("=", ""),
         "malformed note: signature line 1 is not '— <name> <base64>'"),
        (TEXT + "\n— PeterNeumann x08g\n",
         "malformed note: signature line 1 is not '— <name> <base64>'"),
        (TEXT + "\r\n" + PETER_SIG, "malformed note: control character U+000D on line 3"),
        (TEXT + "\n" + PETER_SIG * 101, "malformed note: more than 100 signatures"),
    ],
)  # fmt: skip
def test_a_malformed_note_says_what_is_wrong(note, message):
    """note_test.go's bad messages, and a few more."""
    assert error(open_note, note, [PETER]) == message


def test_only_a_text_ending_in_a_newline_can_be_signed():
    signer = Signer.parse(PETER_SKEY)
    assert error(sign_note, "abc", signer) == "malformed note: the text must end in a newline"
    message = "malformed note: control character U+0009 on line 1"
    assert error(sign_note, "a\tb\n", signer) == message


def test_a_text_with_blank_lines_keeps_them():
    signer = Signer.parse(PETER_SKEY)
    for text in ("\n", "a\n\nb\n", "a\n\n"):
        assert open_note(sign_note(text, signer), [PETER])[0] == text


def test_two_different_keys_under_one_name_and_id_are_a_configuration_error():
    twin = object.__new__(Verifier)
    object.__setattr__(twin, "name", PETER.name)
    object.__setattr__(twin, "key_id", PETER.key_id)
    object.__setattr__(twin, "public_key", bytes(32))
    message = "malformed key: two different keys are PeterNeumann+c74f20a3"
    assert error(open_note, f"{TEXT}\n{PETER_SIG}", [PETER, twin]) == message


# Checkpoints


def test_the_c2sp_checkpoint_parses_and_formats_back():
    checkpoint = Checkpoint.parse(SOFA_BODY)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        (),
    )
    assert checkpoint.root.hex() == (
        "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62")  # fmt: skip
    assert checkpoint.body() == SOFA_BODY
    other = Verifier.parse(FOO_VKEY)
    assert error(verify_checkpoint, SOFA_NOTE, other).startswith(
        "unknown key: signed by example.com/behind-the-sofa+03"
    )


def test_a_checkpoint_with_extension_lines_round_trips():
    text = f"{ORIGIN}\n0\n{base64.b64encode(ROOT).decode()}\nlots\nof lines\n"
    checkpoint = Checkpoint.parse(text)
    assert checkpoint == Checkpoint(ORIGIN, 0, ROOT, ("lots", "of lines"))
    assert checkpoint.body() == text


ROOT64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{ORIGIN}\n1\n{ROOT64}", "the text must end in a newline"),
        (f"{ORIGIN}\n1\n", "it needs an origin, a tree size and a root"),
        (f"\n1\n{ROOT64}\n", "the origin must be one non-empty line"),
        (f"{ORIGIN}\n01\n{ROOT64}\n", "line 2: '01' is not a tree size (digits, no 0 first)"),
        (f"{ORIGIN}\n-1\n{ROOT64}\n", "line 2: '-1' is not a tree size (digits, no 0 first)"),
        (f"{ORIGIN}\n+1\n{ROOT64}\n", "line 2: '+1' is not a tree size (digits, no 0 first)"),
        (f"{ORIGIN}\n1_0\n{ROOT64}\n", "line 2: '1_0' is not a tree size (digits, no 0 first)"),
        (f"{ORIGIN}\n١\n{ROOT64}\n", "line 2: '١' is not a tree size (digits, no 0 first)"),
        (f"{ORIGIN}\n 1\n{ROOT64}\n", "line 2: ' 1' is not a tree size (digits, no 0 first)"),
        (f"{ORIGIN}\n\n{ROOT64}\n", "line 2: '' is not a tree size (digits, no 0 first)"),
        (f"{ORIGIN}\n18446744073709551616\n{ROOT64}\n",
         "tree size 18446744073709551616 is out of range"),
        (f"{ORIGIN}\n1\nYmFuYW5hcw==\n",
         "line 3: 'YmFuYW5hcw==' is not the base64 of a 32-byte hash"),
        (f"{ORIGIN}\n1\n{ROOT64.rstrip('=')}\n",
         f"line 3: {ROOT64.rstrip('=')!r} is not the base64 of a 32-byte hash"),
        (f"{ORIGIN}\n1\n{ROOT64[:-2]}9=\n",  # padding bits set: not how the hash encodes
         f"line 3: {ROOT64[:-2] + '9='!r} is not the base64 of a 32-byte hash"),
        (f"{ORIGIN}\n1\nThisIsn'tBase64\n",
         "line 3: \"ThisIsn'tBase64\" is not the base64 of a 32-byte hash"),
        (f"{ORIGIN}\n1\n{ROOT64}\n\n", "line 4 is empty"),
        (f"{ORIGIN}\n1\n{ROOT64}\nx\n\n", "line 5 is empty"),
        (f"{ORIGIN}\r\n1\n{ROOT64}\n", "control character U+000D on line 1"),
    ],
)  # fmt: skip
def test_a_malformed_checkpoint_says_what_is_wrong(text, message):
    assert error(Checkpoint.parse, text) == f"malformed checkpoint: {message}"


def test_a_signed_checkpoint_verifies_to_itself():
    signer, _, _ = generate_signer(ORIGIN)
    checkpoint = Checkpoint(ORIGIN, 970, ROOT)
    note = sign_checkpoint(checkpoint, signer)
    assert note.startswith(f"{ORIGIN}\n970\n{ROOT64}\n\n— {ORIGIN} ")
    assert verify_checkpoint(note, signer.verifier) == checkpoint
    assert verify_checkpoint(note.encode(), signer.verifier, ORIGIN) == checkpoint


def test_a_checkpoint_signed_with_a_transparency_dev_key_verifies_with_its_public_key():
    vkey = "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs"
    note = sign_checkpoint(Checkpoint("Log", 42, ROOT), Signer.parse(TD_KEYS[vkey]))
    assert verify_checkpoint(note, Verifier.parse(vkey)) == Checkpoint("Log", 42, ROOT)


def test_a_tampered_checkpoint_is_refused_with_what_was_changed():
    signer, _, _ = generate_signer(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 970, ROOT), signer)
    bad = f"bad signature: the signature of {ORIGIN}+{signer.key_id:08x} does not match the text"
    assert error(verify_checkpoint, note.replace("\n970\n", "\n969\n"), signer.verifier) == bad
    other_root = base64.b64encode(bytes(32)).decode()
    assert error(verify_checkpoint, note.replace(ROOT64, other_root), signer.verifier) == bad
    line = note.rsplit(" ", 1)[1]
    raw = bytearray(base64.b64decode(line))
    raw[-1] ^= 1
    forged = note.replace(line, base64.b64encode(raw).decode() + "\n")
    assert error(verify_checkpoint, forged, signer.verifier) == bad


def test_a_checkpoint_signed_by_another_key_of_the_same_name_is_refused():
    signer, _, _ = generate_signer(ORIGIN)
    impostor, _, _ = generate_signer(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 970, ROOT), impostor)
    with pytest.raises(NoteError) as caught:
        verify_checkpoint(note, signer.verifier)
    assert caught.value.kind == "unknown key"
    assert str(caught.value) == (
        f"unknown key: signed by {ORIGIN}+{impostor.key_id:08x}, "
        f"not by a trusted key ({ORIGIN}+{signer.key_id:08x})"
    )


def test_a_witness_cosignature_beside_the_logs_is_tolerated():
    signer, _, _ = generate_signer(ORIGIN)
    witness, _, _ = generate_signer("witness.example/w1")
    note = sign_checkpoint(Checkpoint(ORIGIN, 970, ROOT), signer)
    cosigned = note + sign_note(Checkpoint(ORIGIN, 970, ROOT).body(), witness).split("\n\n")[1]
    assert cosigned.count("\n— ") == 2
    assert verify_checkpoint(cosigned, signer.verifier) == Checkpoint(ORIGIN, 970, ROOT)


def test_a_checkpoint_of_another_log_is_refused():
    signer, _, _ = generate_signer(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), signer)
    assert error(verify_checkpoint, note, signer.verifier, "ximgo.com/other") == (
        "wrong origin: checkpoint of 'ximgo.com/consent-log', not 'ximgo.com/other'"
    )
    not_a_checkpoint = sign_note("if this is a checkpoint then I'll eat my hat\n", signer)
    assert error(verify_checkpoint, not_a_checkpoint, signer.verifier) == (
        "malformed checkpoint: it needs an origin, a tree size and a root"
    )
    with pytest.raises(ValueError, match=r"checkpoint of 'a\.example/log' signed as"):
        sign_checkpoint(Checkpoint("a.example/log", 1, ROOT), signer)


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [("https://ximgo.com", "ximgo.com/consent-log"),
     ("https://XIMGO.com/", "ximgo.com/consent-log"),
     ("https://example.org/policies/", "example.org/policies/consent-log"),
     ("http://localhost:8000", "localhost:8000/consent-log")],
)  # fmt: skip
def test_the_log_is_named_after_the_site(base_url, origin):
    assert log_origin(base_url) == origin


# The key file


@pytest.mark.parametrize("mask", [0o022, 0o277, 0o000])
def test_a_missing_key_file_is_created_private_whatever_the_umask(tmp_path, mask):
    path = tmp_path / "keys" / "consent-log.key"
    with umask(mask):
        signer, created = load_or_create_signer(path, ORIGIN)
        again, created_again = load_or_create_signer(path, ORIGIN)
    assert (created, created_again) == (True, False)
    assert file_mode(path) == 0o600
    assert file_mode(path.parent) == 0o700
    assert path.read_text() == signer.key_text() + "\n"
    assert again.key_text() == signer.key_text()
    assert sorted(p.name for p in path.parent.iterdir()) == ["consent-log.key"]  # no temporary


def make_key(path, name, barrier, results) -> None:
    barrier.wait()
    signer, created = load_or_create_signer(path, name)
    results.put((signer.key_text(), created))


def test_collectors_starting_together_make_one_key(tmp_path):
    """The key is linked into place, never overwritten: all of them sign with the same key."""
    path = tmp_path / "consent-log.key"
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=make_key, args=(path, ORIGIN, barrier, results))
                 for _ in range(4)]  # fmt: skip
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert {key for key, _ in outcomes} == {path.read_text().strip()}
    assert sorted(created for _, created in outcomes) == [False, False, False, True]
    assert [p.name for p in tmp_path.iterdir()] == ["consent-log.key"]


def test_a_go_key_file_is_read(tmp_path):
    path = tmp_path / "log.key"
    path.write_text(PETER_SKEY + "\n")
    path.chmod(0o600)
    signer, created = load_or_create_signer(path, "PeterNeumann")
    assert (signer.verifier, created) == (PETER, False)


@pytest.mark.parametrize("file_mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_others_can_read_is_refused(tmp_path, file_mode):
    path = tmp_path / "log.key"
    load_or_create_signer(path, ORIGIN)
    path.chmod(file_mode)
    with pytest.raises(PolicyError) as caught:
        load_or_create_signer(path, ORIGIN)
    assert str(caught.value) == (
        f"{path}: error: the consent log's signing key has mode {file_mode:04o}, not 0600: "
        "whoever can read it can sign checkpoints in the log's name\n"
        f"  → run `chmod 600 {path}`; if someone may have copied the key, make a new one"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a signing key: malformed key: a private key starts with PRIVATE+KEY+"),
        (PETER_VKEY.encode(),
         "not a signing key: malformed key: a private key starts with PRIVATE+KEY+"),
        (PETER_SKEY[:-1].encode(),
         "not a signing key: malformed key: the private key is not base64"),
        (b"\xff\xfe", "not a signing key: 'utf-8' codec can't decode byte 0xff in position 0: "
         "invalid start byte"),
        (PETER_SKEY.encode(), "the key is 'PeterNeumann''s, not the log 'ximgo.com/consent-log''s"),
    ],
)  # fmt: skip
def test_a_malformed_key_file_is_refused_with_its_name(tmp_path, content, message):
    path = tmp_path / "log.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(PolicyError) as caught:
        load_or_create_signer(path, ORIGIN)
    [problem] = caught.value.problems
    assert (problem.path, problem.message) == (path, message)
    assert problem.hint.startswith("the file holds one line, PRIVATE+KEY+<name>+<key id>+<key>")
    assert path.read_bytes() == content  # a broken key is never replaced by a new one
