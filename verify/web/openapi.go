package web

import (
	_ "embed"
	"encoding/json"
)

//go:embed openapi.json
var openAPIDoc []byte

// openAPI is the published OpenAPI document with this deployment's address
// as the server.
func openAPI(publicURL string) []byte {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		panic("verify/openapi.json: " + err.Error())
	}
	doc["servers"] = []map[string]string{{"url": publicURL}}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}
