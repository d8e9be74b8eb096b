// `hugeshim report --format html` on a real recording (two processes, four
// threads each, a hostile command line), opened in headless Chromium:
// no console message (the page has no script, so any message is an error
// or a blocked fetch), no network request made for the page (Chromium's own
// net log), and a screenshot whose chart boxes (found by their frame
// colours) hold pixels of the data colours. A control page proves each of
// those three detectors fires. Then bad input.
#define BOOST_TEST_MODULE html_report
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <png.h>
#include <vector>

#include "report_html.h"
#include "timeline_workload.h"

using namespace hugeshim_timeline_test;
using nlohmann::json;

namespace {

struct Rgb {
  uint8_t r, g, b;
  bool operator==(const Rgb&) const = default;
};

Rgb parse_colour(const char* hex) {
  unsigned r, g, b;
  BOOST_REQUIRE_EQUAL(sscanf(hex, "#%2x%2x%2x", &r, &g, &b), 3);
  return {static_cast<uint8_t>(r), static_cast<uint8_t>(g), static_cast<uint8_t>(b)};
}

struct Image {
  unsigned width = 0, height = 0;
  std::vector<uint8_t> rgb;
  Rgb at(unsigned x, unsigned y) const {
    const size_t i = (size_t{y} * width + x) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

Image read_png(const std::string& path) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  BOOST_REQUIRE_MESSAGE(png_image_begin_read_from_file(&png, path.c_str()), "cannot read " << path);
  png.format = PNG_FORMAT_RGB;
  Image image;
  image.width = png.width;
  image.height = png.height;
  image.rgb.resize(PNG_IMAGE_SIZE(png));
  BOOST_REQUIRE(png_image_finish_read(&png, nullptr, image.rgb.data(), 0, nullptr));
  return image;
}

struct Box {
  unsigned x0 = ~0u, y0 = ~0u, x1 = 0, y1 = 0;
  bool found() const { return x0 <= x1; }
};

Box box_of(const Image& image, Rgb frame) {
  Box b;
  for (unsigned y = 0; y < image.height; ++y)
    for (unsigned x = 0; x < image.width; ++x)
      if (image.at(x, y) == frame) {
        b.x0 = std::min(b.x0, x);
        b.y0 = std::min(b.y0, y);
        b.x1 = std::max(b.x1, x);
        b.y1 = std::max(b.y1, y);
      }
  return b;
}

// Pixels of the charts' data colours strictly inside a box.
size_t data_pixels(const Image& image, const Box& b) {
  std::vector<Rgb> data;
  for (const char* c : hugeshim::collector::kChartDataColours) data.push_back(parse_colour(c));
  size_t n = 0;
  for (unsigned y = b.y0 + 2; y + 2 <= b.y1; ++y)
    for (unsigned x = b.x0 + 2; x + 2 <= b.x1; ++x)
      if (std::find(data.begin(), data.end(), image.at(x, y)) != data.end()) ++n;
  return n;
}

struct Rendered {
  std::vector<std::string> console;  // Chromium's log lines of console messages
  std::vector<std::string> requests;  // URLs the page asked the network for
  Image screenshot;
};

// One headless Chromium run over a local file: screenshot, log, net log.
Rendered render(const TempDir& dir, const std::string& html_path) {
  const std::string flags =
      " --headless --disable-gpu --hide-scrollbars --force-color-profile=srgb --force-device-scale-factor=1"
      " --window-size=1200,2000 --no-first-run --disable-background-networking --disable-component-update"
      " --disable-sync --disable-extensions --disable-default-apps --enable-logging=stderr --v=0";
  const std::string command = "timeout 60 /usr/bin/chromium" + flags + (geteuid() == 0 ? " --no-sandbox" : "") +
                              " --user-data-dir=" + dir.file("chromium-profile") + " --log-net-log=" +
                              dir.file("net.json") + " --screenshot=" + dir.file("shot.png") + " file://" + html_path +
                              " >/dev/null 2>" + dir.file("chromium.err");
  BOOST_REQUIRE_EQUAL(shell(command).status, 0);
  Rendered r;
  std::istringstream log(slurp(dir.file("chromium.err")));
  for (std::string line; std::getline(log, line);)
    if (line.find(":CONSOLE") != std::string::npos) r.console.push_back(line);
  // Requests made for the page carry its (file://) network isolation key;
  // Chromium's own background fetches carry none.
  const json net = json::parse(slurp(dir.file("net.json")));
  const int start_job = net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
  for (const json& e : net["events"]) {
    if (e["type"] != start_job || !e.contains("params")) continue;
    const json& p = e["params"];
    if (p.value("network_isolation_key", "").find("file://") != std::string::npos &&
        p.value("url", "").rfind("file:", 0) != 0)
      r.requests.push_back(p.value("url", ""));
  }
  r.screenshot = read_png(dir.file("shot.png"));
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(report_renders_offline_with_every_chart_drawn) {
  TempDir dir;
  const std::string hostile = "<img src=x onerror=alert(1)>&\"";
  const std::string db = record_workload(dir, hostile);
  const std::string html_path = dir.file("report.html");
  BOOST_REQUIRE_EQUAL(shell(kHugeshim + " report " + db + " --format html -o " + html_path).status, 0);
  const std::string html = slurp(html_path);
  BOOST_CHECK(html.find("Content-Security-Policy\" content=\"default-src 'none'") != std::string::npos);
  for (const char* fetching : {"<img", "<script", "<link", "<iframe", "<object", "<embed", "href=", "url(", "@import"})
    BOOST_CHECK_MESSAGE(html.find(fetching) == std::string::npos, "the page contains " << fetching);
  BOOST_CHECK(html.find(hostile) == std::string::npos);
  BOOST_CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;&amp;&quot;") != std::string::npos);

  const Rendered page = render(dir, html_path);
  for (const std::string& line : page.console) BOOST_ERROR("console: " << line);
  for (const std::string& url : page.requests) BOOST_ERROR("network request: " << url);
  const char* names[] = {"latency", "page-mix", "fallbacks", "timeline"};
  for (int i = 0; i < 4; ++i) {
    const Box box = box_of(page.screenshot, parse_colour(hugeshim::collector::kChartFrameColours[i]));
    BOOST_REQUIRE_MESSAGE(box.found(), names[i] << " chart: no frame in the screenshot");
    BOOST_TEST_MESSAGE(names[i] << " chart at " << box.x0 << "," << box.y0 << " - " << box.x1 << "," << box.y1);
    BOOST_CHECK_GE(box.x1 - box.x0, 1000u);  // the frame is drawn whole (1080 px wide)
    BOOST_CHECK_GE(box.y1 - box.y0, 60u);
    BOOST_CHECK_MESSAGE(data_pixels(page.screenshot, box) >= 100, names[i] << " chart: nothing drawn");
  }
}

// The detectors above against a page that does everything the report must
// not: a script writing to the console, a network fetch, an empty chart.
BOOST_AUTO_TEST_CASE(control_page_trips_every_detector) {
  TempDir dir;
  const std::string path = dir.file("control.html");
  std::ofstream(path) << "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:9/x.png\">"
                      << "<script>console.error('control')</script><svg width=\"1080\" height=\"100\">"
                      << "<rect x=\"0.5\" y=\"0.5\" width=\"1079\" height=\"99\" fill=\"#ffffff\" stroke=\""
                      << hugeshim::collector::kChartFrameColours[0] << "\" shape-rendering=\"crispEdges\"/></svg>"
                      << "</body></html>\n";
  const Rendered page = render(dir, path);
  BOOST_CHECK_GE(page.console.size(), 1u);
  BOOST_REQUIRE_EQUAL(page.requests.size(), 1u);
  BOOST_CHECK_EQUAL(page.requests[0], "http://127.0.0.1:9/x.png");
  const Box box = box_of(page.screenshot, parse_colour(hugeshim::collector::kChartFrameColours[0]));
  BOOST_REQUIRE(box.found());
  BOOST_CHECK_EQUAL(data_pixels(page.screenshot, box), 0u);
}

BOOST_AUTO_TEST_CASE(bad_input_is_one_line_and_a_failure) {
  TempDir dir;
  std::ofstream(dir.file("notes.txt")) << "not a recording\n";
  const Output out = shell(kHugeshim + " report " + dir.file("notes.txt") + " --format html -o " +
                           dir.file("r.html") + " 2>&1");
  BOOST_CHECK_EQUAL(out.status, 2);
  BOOST_CHECK_EQUAL(std::count(out.out.begin(), out.out.end(), '\n'), 1);
  BOOST_CHECK(out.out.find("not a hugeshim recording (not an SQLite database)") != std::string::npos);
  BOOST_CHECK(!std::filesystem::exists(dir.file("r.html")));
}
