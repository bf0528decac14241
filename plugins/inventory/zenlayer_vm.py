# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: zenlayer_vm
short_description: Zenlayer Cloud VM instances as an inventory source
version_added: 0.2.0
author:
  - zenlayer.cloud maintainers (@zenlayer-cloud)
description:
  - Lists the Zenlayer Cloud VM instances that the credentials may see (C(DescribeInstances), pages of 1000) and
    makes each one an inventory host.
  - The configuration file name must end with C(zenlayer_vm.yml) or C(zenlayer_vm.yaml).
  - Filters the API knows (zones, statuses, instance name with a trailing C(*), tags, tag keys, resource group,
    image, instance ids) are sent to the API; they are checked again on every answer. O(conditions) are
    evaluated on the controller.
  - Every filter option (O(zones), O(statuses), O(name), O(tags) (keys and values), O(tag_keys),
    O(resource_group_id), O(image_id), O(instance_ids)) may be a Jinja2 template. Lookups always work; variables
    given with C(-e) are available only with O(use_extra_vars=true), as in O(compose) and O(keyed_groups). An item
    of a list filter that renders to a list (such as C({{ my_zones }}) in O(zones)) is spread into it. A filter that cannot be
    rendered, or that still holds C({{), C({%) or C({#) afterwards, fails naming the option; it is never sent.
  - A listing is read page by page. When its C(totalCount) changes between two pages, or the pages do not hold
    that many instances, the account changed during the read and an instance may have moved across a page boundary
    unseen. The listing is then read again from page 1, at most 3 times in all; after that the inventory fails,
    naming the filter set, rather than miss a host. An instance found twice (by two filter sets, or on two pages) is one host.
  - Every field of the instance is a host variable in snake_case under O(hostvars_prefix) (by default
    C(zenlayer_instance_id), C(zenlayer_instance_name), C(zenlayer_zone_id), C(zenlayer_instance_status),
    C(zenlayer_tags) as a dictionary, C(zenlayer_public_ipv4), C(zenlayer_private_ipv4), C(zenlayer_public_ipv6),
    C(zenlayer_resource_group_id), ...). The role C(zenlayer.cloud.image_from_instance) takes
    C(zenlayer_instance_id) as the instance to image when C(image_from_instance_instance_id) is not set.
  - Bad options fail before any API call; bad credentials or an unreachable endpoint fail with one line saying
    why. An account without instances gives an empty inventory. Secrets are never printed nor cached.
extends_documentation_fragment:
  - constructed
  - inventory_cache
requirements:
  - python >= 3.9
  - requests
options:
  plugin:
    description: The name of this plugin; it marks the file as a Zenlayer VM inventory source.
    type: str
    required: true
    choices: [zenlayer.cloud.zenlayer_vm]
  access_key_id:
    description:
      - The Zenlayer Cloud access key ID, used with O(access_key_password) to sign every request.
      - May be a template, for example a lookup.
      - Give either O(access_key_id) with O(access_key_password), or O(access_token), not both.
    type: str
    env:
      - name: ZENLAYERCLOUD_ACCESS_KEY_ID
  access_key_password:
    description:
      - The secret of the access key O(access_key_id). It is only used to sign; it is never sent, printed or cached.
      - May be an inline C(!vault) value, or a template (a lookup, or a variable given with C(-e)). Note that
        C(ansible-inventory --list) prints every C(-e) variable as a host variable, so give a secret inline
        with C(!vault), by a lookup, or in the environment rather than with C(-e).
    type: str
    env:
      - name: ZENLAYERCLOUD_ACCESS_KEY_PASSWORD
  access_token:
    description:
      - A Zenlayer Cloud personal access token, sent as a bearer token instead of signing with an access key.
      - May be a template or an inline C(!vault) value. It is never printed or cached.
    type: str
    env:
      - name: ZENLAYERCLOUD_ACCESS_TOKEN
  domain:
    description:
      - The API host name, optionally with a port, without scheme or path.
      - Point it at the local emulator (for example V(127.0.0.1:8080)) to try an inventory offline.
    type: str
    default: console.zenlayer.com
    env:
      - name: ZENLAYERCLOUD_DOMAIN
  scheme:
    description: V(https) or V(http), in any case.
    type: str
    default: https
    env:
      - name: ZENLAYERCLOUD_SCHEME
  validate_certs:
    description: Whether to verify the API's TLS certificate. Set it to V(false) only for a trusted test endpoint.
    type: bool
    default: true
    env:
      - name: ZENLAYERCLOUD_VALIDATE_CERTS
  client_timeout:
    description: Seconds to wait for each HTTP request (connecting takes at most 10 of them). Must be above 0.
    type: float
    default: 60
    env:
      - name: ZENLAYERCLOUD_CLIENT_TIMEOUT
  api_retries:
    description: How many times a call is retried after throttling or a transient failure. V(0) to V(20).
    type: int
    default: 5
    env:
      - name: ZENLAYERCLOUD_API_RETRIES
  zones:
    description:
      - Only instances of these zones (for example V(HKG-A)). One API query per zone.
      - Empty (the default) lists the instances of every zone in one query.
    type: list
    elements: str
    default: []
  statuses:
    description:
      - Only instances in one of these statuses (for example V(RUNNING), V(STOPPED)). One API query per status
        (and per zone).
      - Empty (the default) lists instances in any status.
    type: list
    elements: str
    default: []
  name:
    description:
      - Only the instance of this exact name, or with a trailing C(*) the instances whose name starts with the rest
        (V(web-*)). No other wildcard exists.
    type: str
  tags:
    description:
      - Only instances carrying all of these tags with these values (at most 20).
      - A tag given with a null value matches any value of that key (it is sent as a tag key).
      - Tag values are text. A YAML boolean or integer is converted to the text a user reads, V(true) to C("true"),
        V(false) to C("false"), V(7) to C("7") (YAML also reads C(yes), C(no), C(on), C(off) as booleans, and C(007)
        as the number 7). A number with a decimal point is refused, since YAML may have dropped digits (C(1.10)
        is 1.1), and so are lists and dictionaries. Quote a value to send it exactly as written.
    type: dict
    default: {}
  tag_keys:
    description: Only instances carrying all of these tag keys, whatever their values (at most 20).
    type: list
    elements: str
    default: []
  resource_group_id:
    description: Only instances of this resource group. Without it, instances of every resource group the
      credentials may see are listed.
    type: str
  image_id:
    description: Only instances made from this image.
    type: str
  instance_ids:
    description: Only these instances (sent 100 per query).
    type: list
    elements: str
    default: []
  conditions:
    description:
      - Jinja2 conditions evaluated on the controller on each instance's host variables (with their prefix); an
        instance becomes a host only when all of them are true. Use it for what the API cannot filter.
      - A condition that cannot be evaluated (an undefined variable) counts as false, or fails with O(strict).
    type: list
    elements: str
    default: []
  hostvars_prefix:
    description:
      - Prefix of every host variable made from the instance's fields, so none clashes with Ansible's own names
        (such as C(name) or C(tags)). Letters, digits and C(_), not starting with a digit.
    type: str
    default: zenlayer_
  hostnames:
    description:
      - How hosts are named, in order of preference; the first one that gives a non-empty value is used.
      - V(name) is the instance name, V(instance_id) its id, V(public_ipv4), V(private_ipv4) and V(public_ipv6)
        its first address of that kind. Anything else is a Jinja2 expression over the host variables, for example
        V(zenlayer_tags.fqdn) or V(zenlayer_instance_name ~ '.' ~ zenlayer_zone_id | lower).
      - When none gives a value, the instance id is used.
    type: list
    elements: str
    default: [name]
  duplicate_hostnames:
    description:
      - What to do when several instances get the same host name.
      - V(suffix) keeps the name for the oldest instance (creation time, then id) and names each other one
        C(<name>_<instance id>), so adding an instance never renames an existing host.
      - V(error) refuses the inventory and names the instances that clash.
    type: str
    choices: [suffix, error]
    default: suffix
  connect_with:
    description:
      - Which address becomes C(ansible_host).
      - V(public_ipv4), V(private_ipv4) or V(public_ipv6) (the first address of that kind; when the instance has
        none, C(ansible_host) is not set), V(name) (the instance name, for DNS), or V(none) (never set; connect to
        the host name, or set it with O(compose)).
    type: str
    choices: [public_ipv4, private_ipv4, public_ipv6, name, none]
    default: public_ipv4
  group:
    description:
      - A group that holds every host of this source (the one C(playbooks/image_fleet.yml) runs on).
        Empty for none.
    type: str
    default: zenlayer_instances
notes:
  - A credential or endpoint option, or its environment variable, set to an empty string counts as not set (AWX
    injects an unused credential input that way).
  - Host variables that cannot be templates (no C({) nor C(})) are plain strings, so C(ansible-inventory --list
    --export), which AWX imports, prints them as plain strings on every supported ansible-core (trusted from 2.19).
    A value from the API that holds a brace (a name, a tag) is data that is never rendered as a template; it is
    exported wrapped as C(__ansible_unsafe), which ansible-core reads back as such. The same goes for values
    made by O(compose).
  - A O(keyed_groups) key, O(compose) value, O(hostnames) entry or O(conditions) entry that is only a variable
    name is resolved without Jinja2 when the variable holds plain text or a dictionary of plain text, with the
    results ansible-core's own templating gives; anything else is templated per host.
  - Every request has a timeout (O(client_timeout)) and throttled or failed reads are retried (O(api_retries)).
  - With O(cache) on, the raw API answers are cached (format versioned, keyed by the filters, the endpoint and the
    access key id); a second run within O(cache_timeout) makes no API call. C(--flush-cache) (ansible-playbook,
    and ansible-inventory from ansible-core 2.17) refreshes it.
"""

EXAMPLES = r"""
# prod.zenlayer_vm.yml: running instances of two zones, grouped by zone, status and tag, reached over their private
# addresses; credentials from the ZENLAYERCLOUD_* environment variables
plugin: zenlayer.cloud.zenlayer_vm
zones: [HKG-A, FRA-A]
statuses: [RUNNING]
connect_with: private_ipv4
keyed_groups:
  - key: zenlayer_zone_id
    prefix: zone
  - key: zenlayer_instance_status | lower
    prefix: status
  - key: zenlayer_tags
    prefix: tag
groups:
  has_public_address: zenlayer_public_ipv4 is not none
compose:
  ansible_user: "'ubuntu'"

# Other sources, each a whole file of its own (remove the '#   ' in front of each line):
#
# Every instance the credentials may see:
#   plugin: zenlayer.cloud.zenlayer_vm
#
# The production web servers (tags sent to the API), named by a tag when they have it, cached for an hour:
#   plugin: zenlayer.cloud.zenlayer_vm
#   tags:
#     role: web
#     env: prod
#   hostnames:
#     - zenlayer_tags.fqdn
#     - name
#   duplicate_hostnames: error
#   cache: true
#   cache_plugin: ansible.builtin.jsonfile
#   cache_connection: ~/.cache/zenlayer_vm
#   cache_timeout: 3600
#
# The password encrypted with Ansible Vault in the file itself (ansible-vault encrypt_string --name
# access_key_password), then: ansible-inventory -i prod.zenlayer_vm.yml --ask-vault-pass --graph
#   plugin: zenlayer.cloud.zenlayer_vm
#   access_key_id: AKIDEXAMPLE123456
#   access_key_password: !vault |
#     $ANSIBLE_VAULT;1.1;AES256
#     62313365396662343061393464336163383764373764613633653634306231386433626436623361
#     6134333665353966363534333632666535333761666137620a663537646562643131363864386437
#     3436
#   name: "web-*"
#   conditions:
#     - zenlayer_cpu_count >= 2
#
# The zone and the role from the command line (ansible-inventory -i zone.zenlayer_vm.yml -e zone=HKG-A -e role=web
# --graph); without use_extra_vars, -e variables do not reach the filters and the source fails naming the option:
#   plugin: zenlayer.cloud.zenlayer_vm
#   use_extra_vars: true
#   zones: ["{{ zone }}"]
#   tags:
#     role: "{{ role }}"
#
# The token from a lookup (a password manager, a secrets store, a file outside the project):
#   plugin: zenlayer.cloud.zenlayer_vm
#   access_token: "{{ lookup('ansible.builtin.file', '~/.config/zenlayer/token') }}"
"""

import re
from typing import Any

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.vars import combine_vars

try:  # ansible-core 2.19+: a value is rendered as a template only when trusted; untrusted values export wrapped
    from ansible.template import trust_as_template
    wrap_var = None  # pylint: disable=invalid-name
except ImportError:  # before 2.19: every value may be rendered unless marked unsafe, and unsafe values export wrapped
    trust_as_template = None  # pylint: disable=invalid-name
    from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import (
    COLLECTION_VERSION,
    HAS_REQUESTS,
    ZenlayerAPIError,
    ZenlayerClient,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._base import connection_error, credential_error
from ansible_collections.zenlayer.cloud.plugins.module_utils._inventory import (
    ADDRESS_KINDS,
    TEMPLATE_MARKERS,
    InventoryOptionError,
    ListingChangedError,
    cache_document,
    cached_instances,
    check_rendered,
    fetch_instances,
    filter_sets,
    filter_text,
    instance_hostvars,
    matches_filters,
    may_hold_template,
    query_fingerprint,
    split_tag_filters,
    unique_hostnames,
)

TEMPLATABLE_OPTIONS = ("access_key_id", "access_key_password", "access_token", "domain", "scheme")
CONNECTION_OPTIONS = TEMPLATABLE_OPTIONS + ("validate_certs", "client_timeout", "api_retries")
FILTER_OPTIONS = ("zones", "statuses", "name", "tags", "tag_keys", "resource_group_id", "image_id", "instance_ids")
HOSTNAME_KEYWORDS = {"name": "instance_name", "instance_id": "instance_id", "public_ipv4": "public_ipv4",
                     "private_ipv4": "private_ipv4", "public_ipv6": "public_ipv6"}
UNSET_DEFAULTS = {"domain": "console.zenlayer.com", "scheme": "https"}
PREFIX_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LIST_FILTERS = ("zones", "statuses", "tag_keys", "instance_ids")
TEXT_FILTERS = ("name", "resource_group_id", "image_id")
# the client names what to check on a 401; a 403 is about what these credentials may do
FORBIDDEN_HINT = "; check that these credentials may list VM instances (DescribeInstances)"
# A key (keyed_groups, compose, hostnames, conditions) that is only a variable name: resolved without Jinja2 when the
# value is one every ansible-core returns unchanged from "{{ name }}" (see _plain_value).
BARE_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
JINJA_NAMES = frozenset(("true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else"))


def _plain_value(value: Any) -> bool:
    """Whether "{{ name }}" gives back exactly this value on every supported ansible-core: a text without a brace
    (nothing to render) that ansible-core before 2.19 does not turn into a list or a boolean ('[...', 'True', 'False'),
    or a dictionary of such texts (which it renders to its text form and reads back equal)."""
    if isinstance(value, str):
        return not may_hold_template(value) and not value.startswith("[") and value not in ("True", "False")
    if isinstance(value, dict):
        return all(isinstance(key, str) and isinstance(item, str) and _plain_value(key) and _plain_value(item)
                   for key, item in value.items())
    return False


def _holds_template(value: Any) -> bool:
    if isinstance(value, str):
        return any(marker in value for marker in TEMPLATE_MARKERS)
    if isinstance(value, dict):
        return any(_holds_template(key) or _holds_template(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_template(item) for item in value)
    return False


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Zenlayer Cloud VM instances as inventory hosts."""

    NAME = "zenlayer.cloud.zenlayer_vm"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("zenlayer_vm.yml", "zenlayer_vm.yaml"))

    def __init__(self) -> None:
        super().__init__()
        self._trusted: dict[str, str] = {}

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._trusted = {}
        self._read_config_data(path)
        connection = self._connection_options()
        filters = self._checked(self._filter_options)
        sets = self._checked(filter_sets, filters)
        self._check_naming_options()
        raw_instances = self._raw_instances(connection, sets, path, cache)
        instances = [raw for raw in raw_instances if matches_filters(raw, filters)]
        self._populate(instances)

    # -- options, all checked before any API call --------------------------------------------------------------

    @staticmethod
    def _checked(function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except InventoryOptionError as err:
            raise AnsibleParserError("zenlayer_vm: %s" % err) from None

    def _templated(self, name: str) -> Any:
        """An option's value, rendered when it is a template (lookups and -e variables work), vault decrypted."""
        value = self.get_option(name)
        if value is None:
            return None
        if self.templar.is_template(value):
            self.templar.available_variables = self._vars
            value = self.templar.template(value)
        return str(value) if value is not None else None

    def _connection_options(self) -> dict[str, Any]:
        """The endpoint and credential options; an empty value (as AWX injects for an unused input) counts as unset."""
        options = {name: self.get_option(name) for name in CONNECTION_OPTIONS}
        options.update({name: self._templated(name) or UNSET_DEFAULTS.get(name) for name in TEMPLATABLE_OPTIONS})
        if not HAS_REQUESTS:
            raise AnsibleError("zenlayer_vm needs the Python library requests on the controller: pip install requests")
        problem = credential_error(options) or connection_error(options)
        if problem:
            raise AnsibleParserError("zenlayer_vm: %s" % problem)
        return options

    def _filter_options(self) -> dict[str, Any]:
        """The filter options, rendered when they hold templates, as the API's text (InventoryOptionError if not)."""
        filters = {name: self._rendered_filter(name) for name in FILTER_OPTIONS}
        filters["tags"], any_value = split_tag_filters(filters["tags"] or {})
        for name in LIST_FILTERS:
            filters[name] = [filter_text(name, item) for item in filters[name] or []]
        filters["tag_keys"] += any_value
        for name in TEXT_FILTERS:
            if filters[name] is not None:
                filters[name] = filter_text(name, filters[name])
        return filters

    def _rendered_filter(self, name: str) -> Any:
        """A filter option with its templates rendered: lookups always, variables given with -e when use_extra_vars
        is on (as for compose and keyed_groups). One that still holds a template afterwards is refused, never sent."""
        value = self.get_option(name)
        if not _holds_template(value):
            return value
        use_extra = self.get_option("use_extra_vars")
        self.templar.available_variables = self._vars if use_extra else {}
        try:
            value = self._render(value)
        except Exception as err:  # pylint: disable=broad-exception-caught  # any templating failure, as one line
            hint = "" if use_extra else " (variables given with -e reach the filters only with use_extra_vars: true)"
            raise InventoryOptionError("could not render %s: %s%s" % (name, " ".join(str(err).split()), hint)) from None
        check_rendered(name, value)
        return value

    def _render(self, value: Any) -> Any:
        """Templates in a filter rendered: a dict's keys and values, a list's items (one that renders to a list is
        spread: zones: ["{{ my_zones }}"])."""
        if isinstance(value, dict):
            return {self._render(key): self._render(item) for key, item in value.items()}
        if isinstance(value, list):
            items: list[Any] = []
            for item in value:
                rendered = self._render(item)
                items.extend(rendered if isinstance(rendered, list) and not isinstance(item, list) else [rendered])
            return items
        return self.templar.template(value) if _holds_template(value) else value

    def _check_naming_options(self) -> None:
        prefix = self.get_option("hostvars_prefix")
        if not prefix or not PREFIX_PATTERN.match(prefix):
            raise AnsibleParserError("zenlayer_vm: hostvars_prefix must be letters, digits and '_', not starting with a "
                                     "digit and not empty (it keeps the instance's fields, such as name and tags, from "
                                     "clashing with Ansible's own variables), not %r" % prefix)
        if not self.get_option("hostnames"):
            raise AnsibleParserError("zenlayer_vm: hostnames must list at least one preference, such as name")

    # -- the API, or the cache ---------------------------------------------------------------------------------

    @staticmethod
    def _client(options: dict[str, Any]) -> ZenlayerClient:
        return ZenlayerClient(
            domain=options["domain"], scheme=options["scheme"], access_key_id=options.get("access_key_id"),
            access_key_password=options.get("access_key_password"), access_token=options.get("access_token"),
            validate_certs=options["validate_certs"], timeout=options["client_timeout"],
            retries=options["api_retries"],
            user_agent="zenlayer.cloud/%s ansible-core/%s inventory" % (COLLECTION_VERSION, ANSIBLE_VERSION))

    def _raw_instances(self, options: dict[str, Any], sets: list[dict[str, Any]], path: str, cache: bool) -> list[dict[str, Any]]:
        identity = "token" if options.get("access_token") else "key %s" % options.get("access_key_id")
        fingerprint = query_fingerprint("%s://%s" % (options["scheme"].lower(), options["domain"]), identity, sets)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache")
        if use_cache and cache:
            try:
                found = cached_instances(self._cache[cache_key], fingerprint)
            except KeyError:
                found = None
            if found is not None:
                return found
        client = self._client(options)
        try:
            instances = fetch_instances(client, sets)
        except ZenlayerAPIError as err:
            hint = FORBIDDEN_HINT if err.http_status == 403 and err.code != "SECURITY_CHALLENGE" else ""
            raise AnsibleParserError("zenlayer_vm: listing instances at %s failed: %s%s" % (client.endpoint, err, hint)) from None
        except ListingChangedError as err:
            raise AnsibleParserError("zenlayer_vm: listing instances at %s failed: %s" % (client.endpoint, err)) from None
        if use_cache:
            self._cache[cache_key] = cache_document(fingerprint, instances)
        return instances

    # -- hosts ---------------------------------------------------------------------------------------------------

    def _prefixed(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The instance's host variables, never templates: a name or tag holding '{{' stays data."""
        prefix = self.get_option("hostvars_prefix")
        return {prefix + key: self._marked(value) for key, value in instance_hostvars(raw).items()}

    def _marked(self, value: Any) -> Any:
        """A value from the API as a host variable. Text that may hold a template (a brace) is data that is never
        rendered (marked unsafe before ansible-core 2.19, left untrusted from 2.19), and exports wrapped. Any other
        text cannot be a template: it is exported as a plain string (trusted from 2.19, so that
        ansible-inventory --export, which AWX imports, does not wrap it)."""
        if isinstance(value, str):
            if may_hold_template(value):
                return wrap_var(value) if wrap_var else value
            if trust_as_template is None:
                return value
            trusted = self._trusted.get(value)
            if trusted is None:
                trusted = self._trusted[value] = trust_as_template(value)
            return trusted
        if isinstance(value, dict):
            return {(wrap_var(key) if wrap_var and isinstance(key, str) and may_hold_template(key) else key): self._marked(item)
                    for key, item in value.items()}
        if isinstance(value, list):
            return [self._marked(item) for item in value]
        return value

    def _compose(self, template: Any, variables: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Constructable's _compose, without a template for a bare variable name whose value every ansible-core
        gives back unchanged (_plain_value): on thousands of hosts the per-host Jinja2 of keyed_groups: [{key:
        zenlayer_zone_id}] costs more than the rest of the plugin. Anything else is Ansible's own _compose, its
        result marked as the API's values are (_marked)."""
        match = BARE_NAME.match(template) if isinstance(template, str) else None
        name = match.group(1) if match else None
        if name and name not in JINJA_NAMES and name in variables:
            use_extra = self.get_option("use_extra_vars")
            if not (use_extra and name in self._vars) and _plain_value(variables[name]):
                # as Ansible's _compose leaves it: keyed_groups renders parent_group with these variables next
                self.templar.available_variables = combine_vars(variables, self._vars) if use_extra else variables
                return variables[name]
        # a result without a brace cannot be a template: exported plain, like the variables it came from
        return self._marked(super()._compose(template, variables, *args, **kwargs))

    def _evaluate(self, expression: str, variables: dict[str, Any], what: str) -> Any:
        try:
            return self._compose(expression, variables)
        except Exception as err:  # pylint: disable=broad-exception-caught  # any templating failure
            if self.get_option("strict"):
                raise AnsibleParserError("zenlayer_vm: could not evaluate the %s %r: %s" % (what, expression, err)) from None
            return None

    def _preferred_hostname(self, variables: dict[str, Any]) -> str | None:
        prefix = self.get_option("hostvars_prefix")
        for preference in self.get_option("hostnames"):
            if preference in HOSTNAME_KEYWORDS:
                value = variables.get(prefix + HOSTNAME_KEYWORDS[preference])
            else:
                value = self._evaluate(preference, variables, "hostnames entry")
            if value not in (None, "") and not isinstance(value, (dict, list)):
                return str(value)
        return None

    def _wanted(self, variables: dict[str, Any]) -> bool:
        return all(self._evaluate(condition, variables, "condition") for condition in self.get_option("conditions"))

    def _ansible_host(self, variables: dict[str, Any]) -> Any:
        choice = self.get_option("connect_with")
        prefix = self.get_option("hostvars_prefix")
        if choice in ADDRESS_KINDS:
            return variables.get(prefix + choice)
        if choice == "name":
            return variables.get(prefix + "instance_name")
        return None

    def _populate(self, instances: list[dict[str, Any]]) -> None:
        prefix = self.get_option("hostvars_prefix")
        candidates = []
        for raw in instances:
            variables = self._prefixed(raw)
            if self._wanted(variables):
                name = self._preferred_hostname(variables) or variables[prefix + "instance_id"]
                candidates.append((name, variables))
        by_id = {variables[prefix + "instance_id"]: variables for _name, variables in candidates}
        pairs = [(name, {"instanceId": variables[prefix + "instance_id"],
                         "createTime": variables.get(prefix + "create_time")}) for name, variables in candidates]
        named = self._checked(unique_hostnames, pairs, self.get_option("duplicate_hostnames"))
        group = self.get_option("group")
        if group:
            self.inventory.add_group(group)
        for hostname, ident in named:
            # A host name is plain text: marked unsafe (before ansible-core 2.19) it would be exported as
            # {"__ansible_unsafe": name} by ansible-inventory --export, which an AWX inventory import cannot read.
            # (str() and encode/decode keep the mark; rebuilding the text from its characters drops it.)
            self._add_instance_host("".join(hostname), by_id[ident["instanceId"]], group)

    def _add_instance_host(self, hostname: str, variables: dict[str, Any], group: str | None) -> None:
        self.inventory.add_host(hostname, group=group or None)
        for key, value in variables.items():
            self.inventory.set_variable(hostname, key, value)
        address = self._ansible_host(variables)
        if address:
            self.inventory.set_variable(hostname, "ansible_host", address)
        if self.get_option("compose") or self.get_option("groups") or self.get_option("keyed_groups"):
            self._construct(hostname)

    def _construct(self, hostname: str) -> None:
        host_vars = self.inventory.get_host(hostname).get_vars()
        strict = self.get_option("strict")
        self._set_composite_vars(self.get_option("compose"), host_vars, hostname, strict=strict)
        host_vars = self.inventory.get_host(hostname).get_vars()
        self._add_host_to_composed_groups(self.get_option("groups"), host_vars, hostname, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, hostname, strict=strict)
