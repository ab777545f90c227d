"""The MD5 that isomd5sum's ``implantisomd5`` (1.2.x) implants in an ISO 9660 image, computed
here, so a writer that has the image's bytes going by can implant it without a second read.

What ``implantisomd5`` does (from isomd5sum's documentation and source, re-implemented here;
``checkisomd5`` and ``implantisomd5`` themselves are the reference in the tests):

* the primary volume descriptor is the first descriptor from sector 16 on; only an image whose
  sector 16 holds it is taken here (:func:`implant_file` answers None otherwise: the tool
  stays the way for anything else);
* the checked length is the volume space size (the big-endian half of the descriptor's field
  at byte 80) in sectors, less 15 sectors (``SKIPSECTORS``), or the file's end if sooner;
* the 512-byte application-use area at byte 883 of the descriptor must be blank (spaces): the
  tool refuses to implant over anything else without ``--force``; it is hashed as it is;
* the MD5 goes over the checked length, read 32 KiB at a time from the start; after a read
  whose start lies in a later one of 21 equal parts of the checked length than the read
  before it, a fragment sum is taken: the MD5 of everything read so far, of which the first
  hex digit (without a leading zero) of each of its first three bytes is kept; 20 such sums
  of 3 characters make the 60-character ``FRAGMENT SUMS`` (fewer when one read starts two
  parts on, as in a small image);
* the area is then written as ``ISO MD5SUM = <md5>;SKIPSECTORS = 15;RHLISOSTATUS=<0|1>;
  FRAGMENT SUMS = <sums>;FRAGMENT COUNT = 20;THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS
  ISO!!`` padded with spaces (``RHLISOSTATUS`` is 1 with ``--supported-iso``).

Only the standard library: the native ISO writer's child (``media.iso_native``, run with
``python -I -S``) loads this file from beside its own.
"""

import hashlib
import os
import threading

SECTOR = 2048
PVD_OFFSET = 16 * SECTOR
APPDATA_OFFSET = 883            # in the primary volume descriptor
APPDATA_SIZE = 512
SIZE_OFFSET = 84                # the volume space size, big-endian
SKIP_SECTORS = 15
FRAGMENT_COUNT = 20
FRAGMENT_DIGITS = 3             # 60 characters of fragment sums / 20 fragments
READ_SIZE = 16 * SECTOR         # implantisomd5's read; fragment sums fall at a read's end
BLANK = b" " * APPDATA_SIZE


def checked_length(volume_sectors, file_size=None):
    """The bytes ``implantisomd5`` hashes of an image of ``volume_sectors`` (its primary
    descriptor's volume space size) whose file holds ``file_size`` bytes (None: at least
    as many as the volume)."""
    total = max(volume_sectors - SKIP_SECTORS, 0) * SECTOR
    return total if file_size is None else min(total, file_size)


def fragment_marks(volume_sectors, file_size=None):
    """The offsets after which ``implantisomd5`` takes its fragment sums: the end of each read
    (of :data:`READ_SIZE`, from offset 0) whose start falls in a later part (of
    ``FRAGMENT_COUNT`` + 1 equal parts of the volume less 15 sectors) than the read before it."""
    total = max(volume_sectors - SKIP_SECTORS, 0) * SECTOR
    end = checked_length(volume_sectors, file_size)
    marks = []
    for part in range(1, FRAGMENT_COUNT + 1):
        # the first read whose start is in part ``part`` or later: start * 21 // total >= part
        reads = -(-part * total // ((FRAGMENT_COUNT + 1) * READ_SIZE))
        start = reads * READ_SIZE
        if start >= end:
            break
        mark = min(start + READ_SIZE, end)
        if not marks or marks[-1] != mark:
            marks.append(mark)
    return marks


def _fragment_sum(md5):
    return "".join(format(b, "x")[0] for b in md5.copy().digest()[:FRAGMENT_DIGITS])


class ImplantSum:
    """The implanted MD5 of an image, fed its bytes in order from offset 0 (:meth:`update`;
    bytes past the checked length are ignored), then :meth:`appdata` for its area."""

    def __init__(self, volume_sectors, file_size=None):
        self.end = checked_length(volume_sectors, file_size)
        self.hashed = 0
        self._marks = fragment_marks(volume_sectors, file_size)
        self._next = 0
        self._md5 = hashlib.md5()
        self._sums = []

    def update(self, data):
        view = memoryview(data)
        try:
            offset = 0
            while offset < len(view) and self.hashed < self.end:
                limit = (self._marks[self._next] if self._next < len(self._marks)
                         else self.end)
                n = min(len(view) - offset, limit - self.hashed)
                self._md5.update(view[offset:offset + n])
                offset += n
                self.hashed += n
                if self.hashed == limit and self._next < len(self._marks):
                    self._sums.append(_fragment_sum(self._md5))
                    self._next += 1
        finally:
            view.release()

    def hexdigest(self):
        """The image's MD5 (every byte of the checked length must have been fed)."""
        if self.hashed != self.end:
            raise ValueError(f"{self.hashed} of {self.end} bytes hashed")
        return self._md5.hexdigest()

    def fragment_sums(self):
        return "".join(self._sums)

    def appdata(self, supported=False):
        """The 512 bytes ``implantisomd5`` writes into the application-use area."""
        text = (f"ISO MD5SUM = {self.hexdigest()};SKIPSECTORS = {SKIP_SECTORS};"
                f"RHLISOSTATUS={1 if supported else 0};"
                f"FRAGMENT SUMS = {self.fragment_sums()};FRAGMENT COUNT = {FRAGMENT_COUNT};"
                "THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!").encode("ascii")
        return text.ljust(APPDATA_SIZE, b" ")


def volume_sectors(descriptor):
    """The volume space size of a primary volume descriptor (bytes of its sector), or None
    when ``descriptor`` is not one."""
    if len(descriptor) < SECTOR or descriptor[0] != 1 or descriptor[1:6] != b"CD001":
        return None
    return int.from_bytes(descriptor[SIZE_OFFSET:SIZE_OFFSET + 4], "big")


def implantable(descriptor):
    """True when this module implants as ``implantisomd5`` would into an image whose sector
    16 is ``descriptor``: a primary volume descriptor with a blank application-use area."""
    return (volume_sectors(descriptor) is not None
            and bytes(descriptor[APPDATA_OFFSET:APPDATA_OFFSET + APPDATA_SIZE]) == BLANK)


def implant_file(path, supported=False, bufsize=1 << 20):
    """Implant the MD5 into the image at ``path`` as ``implantisomd5 [--supported-iso]``
    does, reading it once; returns the MD5's hex digest, or None (the file untouched) when
    sector 16 is not a primary volume descriptor with a blank application-use area (the
    tool's own rules then apply: it scans further, or refuses)."""
    fd = os.open(path, os.O_RDWR)
    try:
        descriptor = os.pread(fd, SECTOR, PVD_OFFSET)
        if not implantable(descriptor):
            return None
        implant = ImplantSum(volume_sectors(descriptor), os.fstat(fd).st_size)
        buf = bytearray(bufsize)
        while implant.hashed < implant.end:
            n = os.preadv(fd, [memoryview(buf)[:min(bufsize, implant.end - implant.hashed)]],
                          implant.hashed)
            if n <= 0:
                raise OSError(f"{path}: short read at {implant.hashed}")
            implant.update(memoryview(buf)[:n])
        os.pwrite(fd, implant.appdata(supported), PVD_OFFSET + APPDATA_OFFSET)
        return implant.hexdigest()
    finally:
        os.close(fd)


class Follower:
    """The implanted MD5 of an image computed while its writer writes it: a thread reads
    (``pread``, from the page cache) and hashes what the writer has finished, a MiB at a time,
    as the writer copies file data in the kernel; when the writer is done only the last MiB or
    so is left, instead of a second pass over the whole image (``implantisomd5`` after the
    writer: 0.07 s for the 47 MB DVD of the 10k bench, on the unit's path).

    The writer calls :meth:`written` with an offset below which every byte of the file is
    final (written, or a hole that stays zero), in increasing order, then :meth:`finish`
    (or :meth:`abort` when it fails)."""

    CHUNK = 1 << 20

    def __init__(self, path, volume_sectors, file_size):
        self.sum = ImplantSum(volume_sectors, file_size)
        self._fd = os.open(path, os.O_RDONLY)
        self._written = 0
        self._done = False
        self._aborted = False
        self._waiting = False
        self._error = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="isomd5", daemon=True)
        self._thread.start()

    def written(self, upto):
        """Every byte below ``upto`` is final. Cheap: a lock only to wake a waiting thread."""
        self._written = upto
        if self._waiting and upto - self.sum.hashed >= self.CHUNK:
            with self._cond:
                self._waiting = False
                self._cond.notify()

    def finish(self):
        """The :class:`ImplantSum` of the whole image (the writer is done: its file holds the
        checked length); raises what the thread met."""
        self._stop(False)
        if self._error is not None:
            raise self._error
        return self.sum

    def abort(self):
        """Stop the thread (the writer failed); nothing is raised."""
        self._stop(True)

    def _stop(self, aborted):
        if self._fd is None:
            return
        with self._cond:
            self._done = True
            self._aborted = aborted
            self._cond.notify()
        self._thread.join()
        os.close(self._fd)
        self._fd = None

    def _run(self):
        buf = bytearray(self.CHUNK)
        view = memoryview(buf)
        try:
            while True:
                with self._cond:
                    while not self._done and self._written - self.sum.hashed < self.CHUNK:
                        self._waiting = True
                        self._cond.wait()
                    done = self._done
                    if self._aborted:
                        return
                    limit = self.sum.end if done else min(self._written, self.sum.end)
                while self.sum.hashed < limit:
                    at = self.sum.hashed
                    n = os.preadv(self._fd, [view[:min(self.CHUNK, limit - at)]], at)
                    if n <= 0:
                        raise OSError(f"the image ended at {at} of {limit} bytes")
                    self.sum.update(view[:n])
                if done:
                    return
        except BaseException as exc:    # handed to finish()
            self._error = exc
        finally:
            view.release()
