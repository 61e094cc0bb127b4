import io

import pytest
from PIL import Image

from civic.core import uploads
from civic.core.models import StoredFile


def jpeg_with_gps() -> bytes:
    """A real JPEG carrying GPS coordinates, a camera make/model and a timestamp in EXIF."""
    image = Image.new("RGB", (640, 480), (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x0132] = "2026:11:27 10:00:00"  # DateTime
    gps = {1: "S", 2: (22.0, 58.0, 48.0), 3: "W", 4: (46.0, 36.0, 0.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "fixture must carry GPS"
    return data


def assert_no_metadata(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    assert len(image.getexif()) == 0
    assert "exif" not in image.info
    assert b"TestCam" not in data and b"Exif" not in data
    for key in ("xmp", "icc_profile", "comment"):
        assert key not in image.info


def test_stored_and_served_files_carry_no_metadata(app, client, auth, make_user, db):
    user = make_user()
    auth.login(user)
    response = client.post(
        "/files",
        data={"photo": (io.BytesIO(jpeg_with_gps()), "holiday.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    stored = db.session.get(StoredFile, response.json["id"])
    with uploads.get_storage().open(stored.key) as handle:
        assert_no_metadata(handle.read())
    served = client.get(response.json["url"])
    served.get_data()
    served.close()
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert "immutable" in served.headers["Cache-Control"]
    assert_no_metadata(served.data)
    # The inline job made the derivatives; they are stripped too.
    db.session.refresh(stored)
    assert stored.status == "ready"
    for key in (stored.display_key, stored.thumbnail_key):
        derived = client.get(f"/files/{key}")
        derived.get_data()
        derived.close()
        assert derived.status_code == 200
        assert_no_metadata(derived.data)
    thumb = client.get(f"/files/{stored.thumbnail_key}")
    thumb.get_data()
    thumb.close()
    assert Image.open(io.BytesIO(thumb.data)).size == (320, 240)


def test_exif_orientation_is_applied_before_stripping(app):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    stored = uploads.store_image(out.getvalue())
    assert (stored.width, stored.height) == (20, 40)


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_are_reencoded_in_their_format(app, fmt, mime):
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(out, fmt)
    stored = uploads.store_image(out.getvalue())
    assert stored.content_type == mime
    with uploads.get_storage().open(stored.key) as handle:
        assert Image.open(handle).format == fmt


def test_text_file_named_jpg_is_refused(app, client, auth, make_user, db):
    auth.login(make_user())
    response = client.post(
        "/files",
        data={"photo": (io.BytesIO(b"<script>alert(1)</script>"), "cat.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "not an image" in response.json["error"]
    assert db.session.query(StoredFile).count() == 0


def test_gif_is_refused_even_though_pillow_reads_it(app):
    out = io.BytesIO()
    Image.new("RGB", (5, 5)).save(out, "GIF")
    with pytest.raises(uploads.UploadError, match="JPEG, PNG or WebP"):
        uploads.store_image(out.getvalue())


def test_decompression_bomb_is_refused_without_decoding(app):
    app.config["CIVIC_IMAGE_MAX_PIXELS"] = 1_000_000
    out = io.BytesIO()
    Image.new("1", (4000, 4000)).save(out, "PNG")  # 16 Mpx that compress to a few KB
    assert len(out.getvalue()) < 50_000
    with pytest.raises(uploads.UploadError, match="too many pixels"):
        uploads.store_image(out.getvalue())


def test_oversized_file_is_refused(app):
    app.config["CIVIC_UPLOAD_MAX_BYTES"] = 1000
    with pytest.raises(uploads.UploadError, match="too large"):
        uploads.store_image(jpeg_with_gps())


def test_storage_refuses_keys_outside_its_folder(app):
    with pytest.raises(uploads.UploadError):
        uploads.get_storage().open("../../etc/passwd")


def test_upload_needs_an_account(client, app):
    response = client.post("/files", data={}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert "/account/login" in response.headers["Location"]


def test_request_over_the_limit_gets_translated_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post(
        "/account/login?lang=de",
        data={"email": "x" * 5000},
        headers={"Accept-Language": "de"},
    )
    assert response.status_code == 413
    from flask_babel import force_locale, gettext

    with force_locale("de"):
        expected = gettext("The upload is too large")
    assert expected != "The upload is too large"
    assert expected in response.get_data(as_text=True)
