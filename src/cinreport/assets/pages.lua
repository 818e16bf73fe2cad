-- Write the book's HTML pages: `pandoc lua pages.lua < job.json`, where the job (JSON) names the page
-- template (a Pandoc template) and gives each page's file and template context (see render.py).
-- One process fills every page, so a page costs no Pandoc start of its own.
local job = pandoc.json.decode(io.read('a'), false)
local fh = assert(io.open(job.template))
local template = pandoc.template.compile(fh:read('a'), job.template)
fh:close()
for _, page in ipairs(job.pages) do
  local out = assert(io.open(page.path, 'w'))
  out:write(pandoc.layout.render(pandoc.template.apply(template, page.context)))
  out:close()
end
