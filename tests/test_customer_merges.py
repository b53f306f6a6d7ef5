"""One record per real customer: the same person at two dealers is proposed for a merge, merged
into a golden record with the source record kept behind it, and un-merged."""

from __future__ import annotations

from telemetry.settings import Settings
from tests.fix_services import make_key
from tests.test_customer_records import Api, created, run, vehicle


def test_the_same_person_at_two_dealers_is_proposed_merged_and_unmerged(settings: Settings) -> None:
    async def scenario(api: Api) -> None:
        north = (await created(api.post("/dealers", json={"code": "N", "name": "North"})))["id"]
        south = (await created(api.post("/dealers", json={"code": "S", "name": "South"})))["id"]
        anna = await created(api.post("/customers", json={"name": "Anna Schmidt", "email": "anna@example.com",
                                                          "postcode": "80331", "dealer_id": north}))  # fmt: skip
        again = {"name": "Schmidt, Anna", "phone": "+49 89 1234567", "postcode": "80 331", "dealer_id": south}
        assert (await api.post("/customers", json=again)).status_code == 409  # POST warns first
        twin = await created(api.post("/customers?allow_duplicate=true", json=again))
        other = await created(api.post("/customers", json={"name": "Otto Weber", "postcode": "80331",
                                                           "dealer_id": north}))  # fmt: skip
        car_n = await created(api.post("/vehicles", json=vehicle("WAUZZZ8V0KA000401", north, anna["id"])))
        car_s = await created(api.post("/vehicles", json=vehicle("WAUZZZ8V0KA000402", south, twin["id"])))
        consent = {"purpose": "location_history", "granted": True, "source": "app"}
        await created(api.post(f"/customers/{twin['id']}/consents", json=consent))

        pairs = (await api.get("/customers/duplicates")).json()
        assert [[c["id"] for c in p["customers"]] for p in pairs] == [[anna["id"], twin["id"]]]
        assert pairs[0]["reasons"] == ["similar name at the same postcode (100 %)"]
        north_advisor = {"Authorization": f"Bearer {make_key(settings, 'advisor', north)}"}
        south_advisor = {"Authorization": f"Bearer {make_key(settings, 'advisor', south)}"}
        seen_north = (await api.get("/customers/duplicates", headers=north_advisor)).json()
        assert [(c["id"], c["name"]) for c in seen_north[0]["customers"]] == [
            (anna["id"], "Anna Schmidt"),
            (None, None),
        ]
        cross = await api.post(f"/customers/{anna['id']}/merges", json={"source_id": twin["id"], "by": "x"},
                               headers=north_advisor)  # fmt: skip
        assert cross.status_code == 404  # an advisor cannot reach into another dealer's records

        merged = await created(api.post(f"/customers/{anna['id']}/merges", json={"source_id": twin["id"], "by": "crm"}))
        assert merged["golden_before"] == {"phone": None}
        assert merged["golden_after"] == {"phone": "+49891234567"}
        assert merged["moved"]["vehicles"] == [car_s["id"]]

        golden = (await api.get(f"/customers/{anna['id']}")).json()
        assert (golden["email"], golden["phone"]) == ("anna@example.com", "+49891234567")
        assert sorted(v["vin"] for v in golden["vehicles"]) == [car_n["vin"], car_s["vin"]]
        assert golden["consents"]["location_history"]["granted"] is True
        source = golden["sources"][0]  # the source record as it was, and why it was merged
        assert (source["customer_id"], source["name"], source["dealer_id"]) == (twin["id"], "Schmidt, Anna", south)
        assert source["reasons"] == ["similar name at the same postcode (100 %)"]
        redirect = await api.get(f"/customers/{twin['id']}")
        assert (redirect.status_code, redirect.headers["location"]) == (308, f"/customers/{anna['id']}")
        assert (await api.get(f"/customers/{anna['id']}", headers=south_advisor)).status_code == 200
        assert (await api.get("/customers/duplicates")).json() == []
        twice = await api.post(f"/customers/{anna['id']}/merges", json={"source_id": twin["id"], "by": "crm"})
        assert twice.status_code == 409
        assert (
            await api.post(f"/customers/{anna['id']}/merges", json={"source_id": anna["id"], "by": "x"})
        ).status_code == 422

        # after the merge, the car from the south sells on; un-merging leaves that sale alone
        sold = await api.patch(f"/vehicles/{car_s['vin']}", json={"owner_customer_id": other["id"]})
        assert sold.status_code == 200
        url = f"/customers/{anna['id']}/merges/{merged['id']}/unmerge"
        undone = await api.post(url, json={"by": "crm"})
        assert undone.status_code == 200, undone.text
        assert undone.json()["unmerged_by"] == "crm"
        anna_now = (await api.get(f"/customers/{anna['id']}")).json()
        assert (anna_now["phone"], anna_now["sources"]) == (None, [])
        assert [v["vin"] for v in anna_now["vehicles"]] == [car_n["vin"]]
        assert "location_history" not in anna_now["consents"]
        twin_now = (await api.get(f"/customers/{twin['id']}")).json()
        assert twin_now["merged_into"] is None
        assert twin_now["consents"]["location_history"]["granted"] is True
        assert twin_now["vehicles"] == []  # sold meanwhile: stays with the buyer
        assert (await api.get(f"/customers/{anna['id']}", headers=south_advisor)).status_code == 404
        assert (await api.post(url, json={"by": "crm"})).status_code == 409
        history = (await api.get(f"/customers/{twin['id']}/merges")).json()
        assert [(h["id"], h["unmerged_at"] is not None) for h in history] == [(merged["id"], True)]

    run(settings, scenario)


def test_merge_fills_missing_fields_and_prefers_the_source_only_where_asked(settings: Settings) -> None:
    async def scenario(api: Api) -> None:
        dealer = (await created(api.post("/dealers", json={"code": "M", "name": "M"})))["id"]
        old = await created(api.post("/customers", json={"name": "J. Meyer", "email": "jm@old.example",
                                                         "dealer_id": dealer}))  # fmt: skip
        julia = {"name": "Julia Meyer", "email": "julia@new.example", "postcode": "10115", "dealer_id": dealer}
        new = await created(api.post("/customers?allow_duplicate=true", json=julia))
        body = {"source_id": new["id"], "by": "advisor", "prefer_source": ["name"]}
        merged = await created(api.post(f"/customers/{old['id']}/merges", json=body))
        assert merged["golden_after"] == {"name": "Julia Meyer", "postcode": "10115"}
        golden = (await api.get(f"/customers/{old['id']}")).json()
        assert (golden["name"], golden["email"], golden["postcode"]) == ("Julia Meyer", "jm@old.example", "10115")
        assert merged["reasons"] == ["merged by hand"]  # nothing in common the matcher would have found

        assert (await api.delete(f"/customers/{old['id']}")).status_code == 200  # erasure reaches the sources
        behind = (await api.get(f"/customers/{old['id']}")).json()["sources"][0]
        assert (behind["name"], behind["email"], behind["postcode"]) == (f"erased customer {new['id']}", None, None)

    run(settings, scenario)
