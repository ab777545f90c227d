"""imagechecksum: CHECKSUM files and checksums in images.json for every image."""

from pungi_like.config.options import Option

# hashlib's guaranteed algorithms except shake_*, whose digests need a length
CHECKSUM_TYPES = ["blake2b", "blake2s", "md5", "sha1", "sha224", "sha256", "sha384",
                  "sha3_224", "sha3_256", "sha3_384", "sha3_512", "sha512"]

OPTIONS = [
    Option("media_checksums",
           {"type": "array", "items": {"enum": CHECKSUM_TYPES}, "minItems": 1},
           default=["md5", "sha1", "sha256"],
           help="Checksum types computed for every image."),
    Option("media_checksum_one_file", {"type": "boolean"}, default=False,
           help="Write one `CHECKSUM` file per directory instead of one file per type "
                "(needs exactly one checksum type)."),
    Option("media_checksum_base_filename", {"type": "string"}, default="",
           help="Prefix of the checksum file names; a format string with the compose keys "
                "plus `variant`, `arch` and `dirname`."),
]
