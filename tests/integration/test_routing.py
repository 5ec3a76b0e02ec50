"""Routing: app by Host, client build by x-deployment-id header then `dpl` query, else current.

Contract (design.md sections 1, 3-5, issue 3): the header name is exact (any case);
underscore variants never count; round-robin across a build's upstreams; the query
string reaches the upstream untouched. Header routing is checked on `rsc` requests and
`dpl` routing on assets, the kinds real clients send them on (design.md section 2);
a document ignores both and goes to current; an unknown id on a document, asset or
other request goes to current.
"""

import json
import unittest

from harness import RSC, GatewayTestCase, header_values


class RoutingTest(GatewayTestCase):
    def setUp(self):
        self.a = self.start_upstream("dpl-a")
        self.b1 = self.start_upstream("dpl-b")
        self.b2 = self.start_upstream("dpl-b")
        self.o1 = self.start_upstream("o1")
        self.gw = self.start_gateway(apps=[
            {"name": "shop", "hosts": ["shop.test", "*.shop.test"], "current": "dpl-b",
             "builds": [("dpl-a", [self.a.address]), ("dpl-b", [self.b1.address, self.b2.address])]},
            {"name": "other", "hosts": ["other.test"], "current": "o1",
             "builds": [("o1", [self.o1.address])]},
        ])

    def build_for(self, target="/", host="shop.test", headers=None):
        return self.get_json(self.gw, target, host, headers)["build"]

    def rsc_build_for(self, target="/", host="shop.test", headers=None):
        return self.build_for(target, host, {**RSC, **(headers or {})})

    def post_build_for(self, target="/api/x", host="shop.test", headers=None):
        conn = self.http(self.gw)
        conn.request("POST", target, body=b"{}", headers={"Host": host, "Content-Type": "application/json",
                                                         **(headers or {})})
        resp = conn.getresponse()
        body = resp.read()
        self.assertEqual(resp.status, 200, body)
        return json.loads(body)["build"]

    def test_plain_request_goes_to_current(self):
        self.assertEqual(self.build_for("/"), "dpl-b")
        self.assertEqual(self.build_for("/_next/static/chunks/main.js"), "dpl-b")

    def test_header_routes_to_retained_build(self):
        self.assertEqual(self.rsc_build_for("/", headers={"x-deployment-id": "dpl-a"}), "dpl-a")
        self.assertEqual(self.post_build_for(headers={"x-deployment-id": "dpl-a"}), "dpl-a")

    def test_header_naming_current_build(self):
        self.assertEqual(self.rsc_build_for("/", headers={"x-deployment-id": "dpl-b"}), "dpl-b")

    def test_header_name_any_case(self):
        self.assertEqual(self.rsc_build_for("/", headers={"X-Deployment-ID": "dpl-a"}), "dpl-a")
        self.assertEqual(self.rsc_build_for("/", headers={"X-DEPLOYMENT-ID": "dpl-a"}), "dpl-a")

    def test_underscore_header_ignored(self):
        self.assertEqual(self.post_build_for(headers={"x_deployment_id": "dpl-a"}), "dpl-b")
        self.assertEqual(self.rsc_build_for("/", headers={"x_deployment_id": "dpl-a"}), "dpl-b")

    def test_dpl_query_parameter(self):
        self.assertEqual(self.build_for("/_next/static/chunks/app.js?dpl=dpl-a"), "dpl-a")
        self.assertEqual(self.build_for("/_next/static/css/x.css?v=1&dpl=dpl-a&w=2"), "dpl-a")
        self.assertEqual(self.build_for("/_next/image?url=%2Fa.png&w=64&dpl=dpl-a"), "dpl-a")

    def test_header_wins_over_query(self):
        self.assertEqual(self.rsc_build_for("/x?dpl=dpl-a", headers={"x-deployment-id": "dpl-b"}), "dpl-b")
        self.assertEqual(self.rsc_build_for("/x?dpl=dpl-b", headers={"x-deployment-id": "dpl-a"}), "dpl-a")

    def test_document_goes_to_current(self):
        # design.md 4: a document ignores header and query, so a reload lands on the newest build.
        navigate = {"sec-fetch-mode": "navigate", "accept": "text/html"}
        self.assertEqual(self.build_for("/", headers={"x-deployment-id": "dpl-a", **navigate}), "dpl-b")
        self.assertEqual(self.build_for("/page?dpl=dpl-a", headers=navigate), "dpl-b")
        # Without Fetch Metadata, a GET asking for HTML is a navigation too.
        self.assertEqual(self.build_for("/page?dpl=dpl-a", headers={"accept": "text/html"}), "dpl-b")
        # design.md 3: a GET that is no navigation (script) follows what it names.
        self.assertEqual(self.build_for("/", headers={"x-deployment-id": "dpl-a"}), "dpl-a")
        self.assertEqual(self.build_for("/page?dpl=dpl-a"), "dpl-a")

    def test_unknown_id_goes_to_current(self):
        self.assertEqual(self.build_for("/", headers={"x-deployment-id": "dpl-zzz"}), "dpl-b")
        self.assertEqual(self.build_for("/_next/static/chunks/app.js?dpl=dpl-zzz"), "dpl-b")
        self.assertEqual(self.post_build_for(headers={"x-deployment-id": "dpl-zzz"}), "dpl-b")

    def test_id_of_another_app_goes_to_current(self):
        self.assertEqual(self.post_build_for(host="other.test", headers={"x-deployment-id": "dpl-a"}), "o1")
        self.assertEqual(self.build_for("/_next/static/a.js?dpl=dpl-a", host="other.test"), "o1")

    def test_query_string_forwarded_untouched(self):
        target = "/page?_rsc=1a2b3&dpl=dpl-a&q=a%20b&empty=&flag"
        echo = self.get_json(self.gw, target, headers={"rsc": "1", "x-deployment-id": "dpl-a"})
        self.assertEqual(echo["build"], "dpl-a")
        self.assertEqual(echo["target"], target)

    def test_host_exact(self):
        self.assertEqual(self.build_for("/", host="other.test"), "o1")
        self.assertEqual(self.build_for("/", host="shop.test"), "dpl-b")

    def test_host_wildcard(self):
        self.assertEqual(self.build_for("/", host="eu.shop.test"), "dpl-b")
        self.assertEqual(self.rsc_build_for("/", host="eu.shop.test", headers={"x-deployment-id": "dpl-a"}),
                         "dpl-a")

    def test_host_unknown_goes_to_first_app(self):
        self.assertEqual(self.build_for("/", host="nowhere.test"), "dpl-b")
        self.assertEqual(self.build_for("/", host="x.other.test"), "dpl-b")

    def test_host_with_port_and_case(self):
        # Host matching ignores the port and letter case, as nginx server_name does.
        self.assertEqual(self.build_for("/", host=f"other.test:{self.gw.port}"), "o1")
        self.assertEqual(self.build_for("/", host="OTHER.test"), "o1")

    def test_host_header_reaches_upstream_unchanged(self):
        echo = self.get_json(self.gw, "/", host="eu.shop.test")
        self.assertEqual(header_values(echo, "host"), ["eu.shop.test"])

    def test_round_robin_across_upstreams(self):
        conn = self.http(self.gw)
        ports = []
        for _ in range(6):
            conn.request("GET", "/rr", headers={"Host": "shop.test"})
            resp = conn.getresponse()
            body = resp.read()
            self.assertEqual(resp.status, 200, body)
            ports.append(json.loads(body)["port"])
        self.assertEqual(set(ports), {self.b1.port, self.b2.port})
        self.assertEqual(ports.count(self.b1.port), 3, ports)


if __name__ == "__main__":
    unittest.main()
