"""What we do with Pungi options that pungi_like does not implement.

Real Pungi configs carry options for features pungi_like has no phase for (ostree, OSBS, modules,
image_build, ...). Rejecting them would make every real config invalid, so they are accepted and
ignored with a warning. An option in this list that some module declares is simply a declared
option: the declaration wins. Options Pungi itself removed get the reason Pungi gives.
"""

# Pungi 4.3 option names (plus a few from later releases) that pungi_like accepts and ignores.
PUNGI_OPTION_NAMES = frozenset("""
additional_packages check_deps comps_file comps_filter_environments createrepo_extra_modulemd
cts_keytab cts_oidc_client_id cts_oidc_token_url cts_url dogpile_cache_arguments
dogpile_cache_backend dogpile_cache_expiration_time extraiso_allow_reuse
filter_modules filter_packages filter_system_release_packages gather_allow_reuse gather_backend
gather_fulltree gather_lookaside_repos gather_method gather_modules gather_prepopulate
gather_profiler gather_selfhosting gather_source_mapping greedy_method hashed_directories
image_build_allow_reuse image_container imagebuilder include_devel_modules kiwibuild koji_cache
link_type live_media live_media_ksurl live_media_release live_media_target
live_media_version live_target mbs_api_url module_defaults_dir module_defaults_override_dir
module_obsoletes_dir multilib multilib_blacklist multilib_whitelist osbs osbs_registries osbuild
osbuild_ksurl osbuild_release osbuild_target osbuild_version ostree ostree_container
ostree_installer ostree_installer_overwrite ostree_use_koji_plugin paths_module
pkgset_allow_reuse pkgset_exclusive_arch_considers_noarch pkgset_inherit_exclusive_arch_to_noarch
pkgset_koji_builds pkgset_koji_inherit pkgset_koji_inherit_modules pkgset_koji_module_builds
pkgset_koji_module_tag pkgset_koji_scratch_tasks pkgset_koji_tag pkgset_repos pkgset_scratch_modules
pkgset_source require_all_comps_packages runroot_ssh_hostnames runroot_ssh_init_template
runroot_ssh_install_packages_template runroot_ssh_run_template runroot_ssh_username sigkeys
variant_as_lookaside
""".split())

# Options Pungi removed: name -> what to do instead (Pungi's advice, reworded).
REMOVED_OPTIONS = {
    "release_is_layered": "a release is layered when the base_product_* options are set",
    "runroot": "set runroot_method to run commands in a runroot, otherwise they run locally",
    "bootable": "set buildinstall_method to make bootable media",
    "gather_source": "inputs are taken from every source that is configured",
    "old_composes_per_release_type": "this is always the behaviour now",
    "pdc_url": "the build service is queried instead of PDC",
    "pdc_develop": "the build service is queried instead of PDC",
    "pdc_insecure": "the build service is queried instead of PDC",
    "keep_original_comps": "remove the <groups> element of the variant in the variants XML",
    "productimg": "product.img is no longer made",
    "productimg_install_class": "product.img is no longer made",
    "productimg_po_files": "product.img is no longer made",
}
