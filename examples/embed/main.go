// embed executes a text/template compiled into the binary with //go:embed: the build needs
// templates/*.tmpl, while README.md and docs/ are read by no Go code.
package main

import (
	"embed"
	"os"
	"text/template"
)

//go:embed templates/*.tmpl
var templates embed.FS

func main() {
	t := template.Must(template.ParseFS(templates, "templates/*.tmpl"))
	data := struct{ Name, Source string }{Name: "gopher", Source: "templates/hello.tmpl"}
	if err := t.ExecuteTemplate(os.Stdout, "hello.tmpl", data); err != nil {
		panic(err)
	}
}
