"""The face database: enrolled encodings by name, stored as a plain .npz that loads without executing code.

File layout (numpy arrays only; read with ``allow_pickle=False``, so a file can never
run code when loaded):

    format         "minigrad-faces-db-1"
    encoding_size  d, the length of the encodings (the encoder that made them)
    names          (M,) unicode: the person of each row
    encodings      (M, d) float32, each of norm 1
    sources        (M,) unicode: the picture each row came from

A person may have several rows (enrolling a name again adds its pictures). Their
distance to a query is the smallest over their rows: the closest stored picture.
The file is written to a temp file beside it and renamed into place, so a reader
sees the old database or the whole new one, never half of one.
"""

import os
import zipfile

import numpy as np

from minigrad.io import write_atomic

from apps.cli_args import CLIError
from apps.faces.formulas import distance

DB_FORMAT = "minigrad-faces-db-1"


class DatabaseError(CLIError):
    """A database file that cannot be used: corrupt, not a face database, or from another encoder."""


class FaceDatabase:
    """Enrolled people: rows of (name, encoding, source picture) for encodings of length d."""

    def __init__(self, encoding_size, names=(), encodings=None, sources=()):
        self.encoding_size = int(encoding_size)
        self.names = [str(n) for n in names]
        self.encodings = (np.zeros((0, self.encoding_size), dtype=np.float32) if encodings is None
                          else np.asarray(encodings, dtype=np.float32).reshape(-1, self.encoding_size))
        self.sources = [str(s) for s in sources] or [""] * len(self.names)
        if not len(self.names) == len(self.encodings) == len(self.sources):
            raise ValueError(f"FaceDatabase: {len(self.names)} names, {len(self.encodings)} encodings and "
                             f"{len(self.sources)} sources must match")

    @property
    def people(self):
        """The enrolled names, each once, in order of first enrolment."""
        return list(dict.fromkeys(self.names))

    def __len__(self):
        return len(self.names)

    def add(self, name, encodings, sources=None):
        """Enrol more pictures of ``name`` (new or already there): encodings (k, d)."""
        encodings = np.asarray(encodings, dtype=np.float32)
        if encodings.ndim != 2 or encodings.shape[1] != self.encoding_size:
            raise ValueError(f"add: encodings for {name!r} must be (k, {self.encoding_size}), got {encodings.shape}")
        sources = list(sources) if sources is not None else [""] * len(encodings)
        self.names += [str(name)] * len(encodings)
        self.sources += [str(s) for s in sources]
        self.encodings = np.concatenate([self.encodings, encodings])

    def check_encoder(self, encoding_size, path="the database"):
        if encoding_size != self.encoding_size:
            raise DatabaseError(f"{path} was made by an encoder with d = {self.encoding_size}, but this encoder gives "
                                f"d = {encoding_size}: enrol again with this encoder into a new --db")

    def person_distances(self, encoding):
        """{name: smallest squared distance from ``encoding`` (d,) to that person's rows}."""
        if not self.names:
            raise CLIError("the database is empty: enrol people first with `minigrad faces enroll`")
        d = distance(np.asarray(encoding, dtype=np.float64)[None, :], self.encodings)
        best = {}
        for name, value in zip(self.names, d):
            best[name] = min(best.get(name, np.inf), float(value))
        return best

    def check_name(self, name):
        if name not in self.names:
            known = ", ".join(self.people[:10]) + (" ..." if len(self.people) > 10 else "")
            raise CLIError(f"--as {name!r}: no such person in the database (enrolled: {known or 'nobody'})")

    def verify(self, encoding, name, tau):
        """(same, d, tau): is ``encoding`` the enrolled ``name``? d is its distance to that person's closest picture."""
        self.check_name(name)
        d = self.person_distances(encoding)[name]
        return d <= tau, d, tau

    def identify(self, encoding, tau, top=3):
        """(identity or None, [(name, d)] nearest first, at most ``top``): None when even the nearest is beyond tau."""
        ranked = sorted(self.person_distances(encoding).items(), key=lambda item: item[1])[:top]
        return (ranked[0][0] if ranked[0][1] <= tau else None), ranked

    # ------------------------------------------------------------------------- file

    def save(self, path):
        """Write atomically: a temp file in the same folder, then os.replace."""
        path = os.fspath(path)
        write_atomic(path, lambda f: np.savez(f, format=np.array(DB_FORMAT), encoding_size=np.array(self.encoding_size),
                                              names=np.array(self.names, dtype=str).reshape(-1),
                                              encodings=self.encodings.astype(np.float32),
                                              sources=np.array(self.sources, dtype=str).reshape(-1)))
        return path

    @classmethod
    def load(cls, path):
        """Read a database written by save; anything else is a DatabaseError naming the file."""
        path = os.fspath(path)
        try:
            archive = np.load(path, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an .npz archive")
            with archive:
                fields = {key: archive[key] for key in ("format", "encoding_size", "names", "encodings", "sources")}
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, TypeError) as error:
            raise DatabaseError(f"{path} is not a readable face database (corrupt, truncated, or another kind of "
                                f"file: {type(error).__name__}); enrol into a new --db") from None
        if str(fields["format"]) != DB_FORMAT:
            raise DatabaseError(f"{path} is not a face database (format {str(fields['format'])!r}, expected {DB_FORMAT!r})")
        try:
            return cls(int(fields["encoding_size"]), fields["names"].tolist(), fields["encodings"],
                       fields["sources"].tolist())
        except (ValueError, TypeError) as error:
            raise DatabaseError(f"{path} is a damaged face database ({error})") from None

    @classmethod
    def open_or_new(cls, path, encoding_size):
        """The database at ``path`` if it exists (checked against the encoder), else a new empty one."""
        if not os.path.exists(path):
            return cls(encoding_size)
        db = cls.load(path)
        db.check_encoder(encoding_size, path)
        return db
