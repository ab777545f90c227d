"""Schema version 2: repos, repo requests, buildroots (+ listing), build types, archive types,
archives, image archives and their RPM components, image builds; existing builds become RPM
builds. DDL frozen as generated from that release's schema.py.
"""

import time

import sqlalchemy as sa
from alembic import op

#: Koji's legacy build types, in Koji's id order.
SEED_BTYPES = ["rpm", "maven", "win", "image"]

#: Archive types a fresh hub knows: Koji's names, descriptions and extensions for the types image
#: tasks produce ("tar" covers .tar.gz as in Koji), plus "log" which Koji keeps out of archives.
SEED_ARCHIVETYPES = [
    ("tar", "Tar file", "tar tar.gz tar.bz2 tar.xz tgz", "tar"),
    ("zip", "Zip file", "zip", "zip"),
    ("xml", "XML file", "xml", None),
    ("xmlcompressed", "Compressed XML file", "xml.gz xml.bz2 xml.xz", None),
    ("spec", "RPM spec file", "spec", None),
    ("iso", "CD/DVD Image", "iso", None),
    ("raw", "Raw disk image", "raw", None),
    ("qcow", "QCOW image", "qcow", None),
    ("qcow2", "QCOW2 image", "qcow2", None),
    ("vmdk", "vSphere image", "vmdk", None),
    ("ova", "Open Virtualization Archive", "ova", None),
    ("ks", "Kickstart", "ks", None),
    ("cfg", "Configuration file", "cfg", None),
    ("vdi", "VirtualBox Virtual Disk Image", "vdi", None),
    ("txt", "Text file", "txt", None),
    ("vhd", "Hyper-V image", "vhd", None),
    ("vhdx", "Hyper-V Virtual Hard Disk v2 image", "vhdx", None),
    ("box", "Vagrant Box Image", "box", None),
    ("raw-xz", "xz compressed raw disk image", "raw.xz", None),
    ("json", "JSON data", "json", None),
    ("yaml", "YAML Ain't Markup Language", "yaml yml", None),
    ("liveimg-squashfs", "liveimg compatible squashfs image", "liveimg.squashfs", None),
    ("raw-gz", "GZIP compressed raw disk image", "raw.gz", None),
    ("qcow2-compressed", "Compressed QCOW2 image", "qcow2.gz qcow2.xz", None),
    ("iso-compressed", "Compressed iso image", "iso.gz iso.xz", None),
    ("vhd-compressed", "Compressed VHD image", "vhd.gz vhd.xz", None),
    ("vmdk-compressed", "Compressed VMDK image", "vmdk.gz vmdk.xz", None),
    ("kernel-image", "Kernel BZ2 Image", "vmlinuz vmlinuz.gz vmlinuz.xz", None),
    ("initramfs", "Compressed Initramfs Image", "img", None),
    ("checksum", "Checksum file", "sha256", None),
    ("squashfs", "SquashFS image", "squashfs", None),
    ("log", "Log file", "log", None),
]

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('archivetypes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('extensions', sa.Text(), nullable=False),
    sa.Column('compression_type', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('btype',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('repo',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('create_ts', sa.Float(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('state_ts', sa.Float(), nullable=True),
    sa.Column('dist', sa.Boolean(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('begin_event', sa.Integer(), nullable=True),
    sa.Column('end_event', sa.Integer(), nullable=True),
    sa.Column('opts', sa.Text(), nullable=True),
    sa.Column('custom_opts', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['begin_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['end_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_repo_tag_state', 'repo', ['tag_id', 'state'], unique=False)
    op.create_table('build_types',
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('btype_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['btype_id'], ['btype.id'], ),
    sa.ForeignKeyConstraint(['build_id'], ['build.id'], ),
    sa.PrimaryKeyConstraint('build_id', 'btype_id')
    )
    op.create_table('buildroot',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('br_type', sa.Integer(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=True),
    sa.Column('repo_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('arch', sa.String(length=32), nullable=True),
    sa.Column('state', sa.Integer(), nullable=True),
    sa.Column('create_event', sa.Integer(), nullable=True),
    sa.Column('retire_event', sa.Integer(), nullable=True),
    sa.Column('container_type', sa.Text(), nullable=True),
    sa.Column('container_arch', sa.Text(), nullable=True),
    sa.Column('host_os', sa.Text(), nullable=True),
    sa.Column('host_arch', sa.Text(), nullable=True),
    sa.Column('extra', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.ForeignKeyConstraint(['repo_id'], ['repo.id'], ),
    sa.ForeignKeyConstraint(['retire_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_buildroot_task', 'buildroot', ['task_id'], unique=False)
    op.create_table('image_builds',
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['build_id'], ['build.id'], ),
    sa.PrimaryKeyConstraint('build_id')
    )
    op.create_table('repo_queue',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('create_time', sa.Float(), nullable=False),
    sa.Column('update_time', sa.Float(), nullable=False),
    sa.Column('owner', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('at_event', sa.Integer(), nullable=True),
    sa.Column('min_event', sa.Integer(), nullable=True),
    sa.Column('opts', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['at_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['min_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['owner'], ['users.id'], ),
    sa.ForeignKeyConstraint(['repo_id'], ['repo.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_repo_queue_active', 'repo_queue', ['active', 'tag_id'], unique=False)
    op.create_table('archiveinfo',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('type_id', sa.Integer(), nullable=False),
    sa.Column('btype_id', sa.Integer(), nullable=True),
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('buildroot_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('checksum', sa.Text(), nullable=False),
    sa.Column('checksum_type', sa.Integer(), nullable=False),
    sa.Column('metadata_only', sa.Boolean(), nullable=False),
    sa.Column('extra', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['btype_id'], ['btype.id'], ),
    sa.ForeignKeyConstraint(['build_id'], ['build.id'], ),
    sa.ForeignKeyConstraint(['buildroot_id'], ['buildroot.id'], ),
    sa.ForeignKeyConstraint(['type_id'], ['archivetypes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_archiveinfo_build', 'archiveinfo', ['build_id'], unique=False)
    op.create_index('ix_archiveinfo_buildroot', 'archiveinfo', ['buildroot_id'], unique=False)
    op.create_index('ix_archiveinfo_filename', 'archiveinfo', ['filename'], unique=False)
    op.create_table('buildroot_listing',
    sa.Column('buildroot_id', sa.Integer(), nullable=False),
    sa.Column('rpm_id', sa.Integer(), nullable=False),
    sa.Column('is_update', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['buildroot_id'], ['buildroot.id'], ),
    sa.ForeignKeyConstraint(['rpm_id'], ['rpminfo.id'], ),
    sa.UniqueConstraint('buildroot_id', 'rpm_id', name='uq_buildroot_listing')
    )
    op.create_index('ix_buildroot_listing_rpm', 'buildroot_listing', ['rpm_id'], unique=False)
    op.create_table('archive_rpm_components',
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('rpm_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['archive_id'], ['archiveinfo.id'], ),
    sa.ForeignKeyConstraint(['rpm_id'], ['rpminfo.id'], ),
    sa.UniqueConstraint('archive_id', 'rpm_id', name='uq_archive_rpm_components')
    )
    op.create_index('ix_archive_rpm_components_rpm', 'archive_rpm_components', ['rpm_id'], unique=False)
    op.create_table('image_archives',
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('arch', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['archive_id'], ['archiveinfo.id'], ),
    sa.PrimaryKeyConstraint('archive_id')
    )

    meta = sa.MetaData()
    btype = sa.Table("btype", meta, sa.Column("id"), sa.Column("name"))
    archivetypes = sa.Table("archivetypes", meta, sa.Column("name"), sa.Column("description"),
                            sa.Column("extensions"), sa.Column("compression_type"))
    build = sa.Table("build", meta, sa.Column("id"))
    build_types = sa.Table("build_types", meta, sa.Column("build_id"), sa.Column("btype_id"))
    schema_version = sa.Table("schema_version", meta, sa.Column("version"),
                              sa.Column("applied_ts"))
    op.bulk_insert(btype, [{"name": n} for n in SEED_BTYPES])
    op.bulk_insert(archivetypes, [{"name": n, "description": d, "extensions": e,
                                   "compression_type": c} for n, d, e, c in SEED_ARCHIVETYPES])
    conn = op.get_bind()
    # Builds that exist already (version 1 knew RPM builds only) get their rpm build type.
    rpm_btype = conn.execute(sa.select(btype.c.id).where(btype.c.name == "rpm")).scalar_one()
    build_ids = [r[0] for r in conn.execute(sa.select(build.c.id))]
    if build_ids:
        op.bulk_insert(build_types, [{"build_id": b, "btype_id": rpm_btype} for b in build_ids])
    op.bulk_insert(schema_version, [{"version": 2, "applied_ts": time.time()}])
